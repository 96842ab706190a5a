// SPDX-License-Identifier: GPL-2.0
//! Socket-level hash glue: the one place where the Rust policy meets the kernel's C code.
//!
//! Every `unsafe` block and every call into C made by the `sock_level_hash` module is in this
//! file. The C hooks (`include/net/sock_level_hash.h`) call a `sock_level_hash_ops` table whose
//! entries are the `extern "C"` trampolines below; they hand the module ([`Policy`]) safe views:
//! a [`Listener`] (the state of one listen socket: its priority queues, [`Slot`]s), proof that
//! the socket is locked ([`SockGuard`]), the flow of a completed connection.
//!
//! Concurrency, in one place:
//! - everything that changes the configuration, the registrations or moves connections runs in
//!   process context under `lock_sock()` of the listener (the C hooks take it for the options;
//!   accept holds it; the exit work and `release` take it), which [`SockGuard`] proves;
//! - a completed connection is parked from softirq under the listener's `rskq_lock`: it reads
//!   the policy's routing locklessly and takes only the target slot's lock;
//! - each slot's lock is its wait head's spinlock (as eventfd does): parking, taking and waking
//!   one process's queue never touch another's, so workers share no new lock;
//! - slots are allocated in chunks that stay put until the socket is closed, so a wait head
//!   that a blocked `accept()`, `poll()` or epoll entry points to is never freed under it.
#![allow(dead_code, unreachable_pub)]

use core::{
    cell::UnsafeCell,
    ffi::{c_int, c_uint, c_void},
    marker::PhantomData,
    pin::Pin,
    ptr::{addr_of, addr_of_mut, null_mut, NonNull},
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering},
};
use kernel::{bindings, error::from_result, prelude::*, types::Opaque, ThisModule};

use crate::hash::FlowKey;

/// Queues per allocation: small chunks, so a listener with few queues stays small and the
/// chunk is built on the stack without risk.
pub const CHUNK: usize = 8;
/// The most queues of a listener (the uapi's 1024).
pub const MAX_QUEUES: usize = 1024;
const MAX_CHUNKS: usize = MAX_QUEUES / CHUNK;

const EPOLLIN: u32 = 0x1;
const EPOLLRDNORM: u32 = 0x40;
const TASK_INTERRUPTIBLE: c_uint = 1;
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;
const AF_INET6: u16 = 10;

/// The module's side: what to do with the options and where a connection goes.
pub trait Policy: Sized + 'static {
    /// Per-listener data of the policy (configuration, routing).
    type Data: Send + Sync;

    /// Data for a listener that just turned the option on.
    fn new_data() -> Result<KBox<Self::Data>>;

    /// `setsockopt(SO_SOCKLEVELHASH | SO_SOCKADDLSPH)` on a TCP socket, socket locked.
    fn setsockopt(sock: &mut Sock<'_, Self>, option: SockOpt, value: &[u8]) -> Result;

    /// `getsockopt()` of the three options on a TCP socket, socket locked: writes at most
    /// `out.len()` bytes (the caller's optlen) and returns how many.
    fn getsockopt(sock: &mut Sock<'_, Self>, option: SockOpt, out: &mut [u8]) -> Result<usize>;

    /// Softirq: the queue a completed connection with `flow` goes to, `None` for the normal
    /// queue. Must not block.
    fn route(listener: &Listener<Self>, flow: &FlowKey) -> Option<usize>;

    /// The process that owned `slot` exited (socket locked): deregister it.
    fn owner_exited(listener: &Listener<Self>, guard: &mut SockGuard<'_>, slot: usize);

    /// The socket is being closed (socket locked): turn the option off, deregistering every
    /// process; the glue frees everything afterwards.
    fn release(listener: &Listener<Self>, guard: &mut SockGuard<'_>);
}

/// `EOPNOTSUPP` and `ENOPROTOOPT`, which `kernel::error::code` does not name.
pub fn errno(code: u32) -> Error {
    Error::from_errno(-(code as i32))
}

/// `ENOPROTOOPT`: not one of our options.
fn enoprotoopt() -> Error {
    errno(bindings::ENOPROTOOPT)
}

/// The three socket options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    /// `SO_SOCKLEVELHASH`.
    Config,
    /// `SO_SOCKADDLSPH`.
    Register,
    /// `SO_SOCKLEVELHASH_INFO`.
    Info,
}

impl SockOpt {
    fn from_raw(optname: c_int) -> Option<Self> {
        match u32::try_from(optname).ok()? {
            bindings::SO_SOCKLEVELHASH => Some(Self::Config),
            bindings::SO_SOCKADDLSPH => Some(Self::Register),
            bindings::SO_SOCKLEVELHASH_INFO => Some(Self::Info),
            _ => None,
        }
    }
}

/// Proof that the listener's socket lock (`lock_sock()`) is held by the current task.
pub struct SockGuard<'a> {
    sk: NonNull<bindings::sock>,
    owned: bool,
    _sock: PhantomData<&'a bindings::sock>,
}

impl SockGuard<'_> {
    /// Takes the socket lock (may sleep).
    ///
    /// # Safety
    ///
    /// `sk` is a live socket for `'a` and the caller does not hold its lock.
    unsafe fn lock<'a>(sk: NonNull<bindings::sock>) -> SockGuard<'a> {
        // SAFETY: the socket is live (function's requirements); process context.
        unsafe { bindings::lock_sock(sk.as_ptr()) };
        SockGuard {
            sk,
            owned: true,
            _sock: PhantomData,
        }
    }

    /// A guard for a lock that the C caller holds (and releases).
    ///
    /// # Safety
    ///
    /// The caller holds `lock_sock()` of the live socket `sk` for `'a`.
    unsafe fn held<'a>(sk: NonNull<bindings::sock>) -> SockGuard<'a> {
        SockGuard {
            sk,
            owned: false,
            _sock: PhantomData,
        }
    }

    /// The TCP state of the socket.
    fn tcp_state(&self) -> u8 {
        // SAFETY: the socket is live while the guard exists; its state changes only under
        // the lock we hold.
        unsafe { (*self.sk.as_ptr()).__sk_common.skc_state }
    }
}

impl Drop for SockGuard<'_> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: we took the lock in `lock` and release it once.
            unsafe { bindings::release_sock(self.sk.as_ptr()) };
        }
    }
}

/// Data changed only under the listener's socket lock, which [`SockGuard`] proves.
pub struct SockLocked<T>(UnsafeCell<T>);

// SAFETY: access is serialised by the socket lock (see `get`).
unsafe impl<T: Send> Sync for SockLocked<T> {}

impl<T> SockLocked<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// The data, while the caller holds the socket lock of the listener that owns it.
    pub fn get<'a>(&'a self, _guard: &'a mut SockGuard<'_>) -> &'a mut T {
        // SAFETY: the guard proves the socket lock is held and is borrowed mutably for as long
        // as the reference lives, so no other reference exists (every `SockLocked` lives in one
        // listener, locked by its own socket).
        unsafe { &mut *self.0.get() }
    }
}

/// A TCP socket during an option call, locked.
pub struct Sock<'a, P: Policy> {
    guard: SockGuard<'a>,
    _policy: PhantomData<P>,
}

impl<'a, P: Policy> Sock<'a, P> {
    /// The listener state, if the option was ever turned on for this socket.
    pub fn listener(&self) -> Option<&'a Listener<P>> {
        // SAFETY: the socket is a live TCP socket, locked; the state it points to lives until
        // `release_cb`, which cannot run during an option call (the caller holds the file).
        unsafe { Listener::<P>::of(self.guard.sk.as_ptr()) }
    }

    /// The listener state, created (with the policy's fresh data) if missing.
    pub fn listener_or_create(&mut self) -> Result<&'a Listener<P>> {
        if let Some(listener) = self.listener() {
            return Ok(listener);
        }
        let data = P::new_data()?;
        let listener = KBox::into_raw(KBox::new(
            Listener {
                sk: self.guard.sk.as_ptr(),
                chunks: [const { AtomicPtr::new(null_mut()) }; MAX_CHUNKS],
                closing: AtomicBool::new(false),
                normal_queued: AtomicU64::new(0),
                normal_accepted: AtomicU64::new(0),
                data,
            },
            GFP_KERNEL,
        )?);
        let sk = self.guard.sk.as_ptr();
        // SAFETY: `sk` is a locked TCP socket (an `inet_connection_sock`); the pointer is
        // published under `rskq_lock`, which the enqueue hook holds while it reads it. The C
        // side takes a module reference for the new state.
        unsafe {
            let queue = addr_of_mut!((*sk.cast::<bindings::inet_connection_sock>()).icsk_accept_queue);
            bindings::spin_lock_bh(addr_of_mut!((*queue).rskq_lock));
            core::ptr::write_volatile(addr_of_mut!((*queue).slh), listener.cast());
            bindings::spin_unlock_bh(addr_of_mut!((*queue).rskq_lock));
            Ok(&*listener)
        }
    }

    /// The socket lock.
    pub fn guard(&mut self) -> &mut SockGuard<'a> {
        &mut self.guard
    }

    /// Whether the socket may get the option: not yet connected (`TCP_CLOSE`, before
    /// `listen()`) or listening.
    pub fn is_listener_or_unbound(&self) -> bool {
        matches!(self.guard.tcp_state(), TCP_CLOSE | TCP_LISTEN)
    }
}

/// The number of possible CPUs (`nr_cpu_ids`).
pub fn nr_cpu_ids() -> u32 {
    // SAFETY: set once during boot, read-only afterwards.
    unsafe { bindings::nr_cpu_ids }
}

/// The state of one listen socket with the option: its priority queues and the policy's data.
///
/// # Invariants
///
/// `sk` points to the socket whose `icsk_accept_queue.slh` points here; chunks are allocated
/// under the socket lock, published once and freed only by `release_cb`.
pub struct Listener<P: Policy> {
    sk: *mut bindings::sock,
    chunks: [AtomicPtr<[Slot; CHUNK]>; MAX_CHUNKS],
    closing: AtomicBool,
    normal_queued: AtomicU64,
    normal_accepted: AtomicU64,
    data: KBox<P::Data>,
}

// SAFETY: the raw socket pointer is only dereferenced under the rules described on each use;
// everything else is atomics, slots (see `Slot`) and `P::Data: Send + Sync`.
unsafe impl<P: Policy> Send for Listener<P> {}
// SAFETY: as above.
unsafe impl<P: Policy> Sync for Listener<P> {}

impl<P: Policy> Listener<P> {
    /// The state of TCP socket `sk`, if any.
    ///
    /// # Safety
    ///
    /// `sk` is a live TCP socket whose state, if any, is not freed during `'a`.
    unsafe fn of<'a>(sk: *mut bindings::sock) -> Option<&'a Self> {
        // SAFETY: a TCP socket is an `inet_connection_sock`; see the function's requirements.
        unsafe {
            let queue = addr_of!((*sk.cast::<bindings::inet_connection_sock>()).icsk_accept_queue);
            let state = core::ptr::read_volatile(addr_of!((*queue).slh));
            state.cast::<Self>().as_ref()
        }
    }

    /// The policy's data.
    pub fn data(&self) -> &P::Data {
        &self.data
    }

    /// Queue `index`, if allocated.
    pub fn slot(&self, index: usize) -> Option<&Slot> {
        let chunk = self.chunks.get(index / CHUNK)?.load(Ordering::Acquire);
        // SAFETY: a published chunk stays allocated until `release_cb` frees the listener.
        let chunk = unsafe { chunk.as_ref() }?;
        chunk.get(index % CHUNK)
    }

    /// Makes sure queues `0..count` exist (socket locked; they are never freed before close).
    pub fn ensure_slots(&self, _guard: &mut SockGuard<'_>, count: usize) -> Result {
        if count > MAX_QUEUES {
            return Err(EINVAL);
        }
        for chunk_index in 0..count.div_ceil(CHUNK) {
            let entry = &self.chunks[chunk_index];
            if !entry.load(Ordering::Acquire).is_null() {
                continue;
            }
            let chunk = KBox::new(
                core::array::from_fn::<Slot, CHUNK, _>(|i| Slot::new(chunk_index * CHUNK + i)),
                GFP_KERNEL,
            )?;
            let chunk = KBox::into_raw(chunk);
            // SAFETY: the chunk is our fresh allocation and never moves again; its C members
            // are initialised in place before anybody can see it.
            unsafe {
                for slot in (*chunk).iter() {
                    slot.init::<P>(self);
                }
            }
            entry.store(chunk, Ordering::Release);
        }
        Ok(())
    }

    /// The queue owned by the calling process (thread group), if any.
    pub fn caller_slot(&self) -> Option<&Slot> {
        // SAFETY: `current` is valid in process context; its tgid pid is only compared.
        let tgid = unsafe { bindings::task_tgid(bindings::get_current()) };
        self.chunks
            .iter()
            .map(|chunk| chunk.load(Ordering::Acquire))
            .take_while(|chunk| !chunk.is_null())
            // SAFETY: published chunks live until the listener is freed.
            .flat_map(|chunk| unsafe { (*chunk).iter() })
            .find(|slot| slot.owner.load(Ordering::Acquire) == tgid)
    }

    /// Connections that went to the normal queue / were accepted from it.
    pub fn normal_counts(&self) -> (u64, u64) {
        (
            self.normal_queued.load(Ordering::Relaxed),
            self.normal_accepted.load(Ordering::Relaxed),
        )
    }

    /// Gives queue `index` to the calling process: connections can be parked there from now
    /// on, and the process's exit is watched (socket locked).
    pub fn open_slot(&self, _guard: &mut SockGuard<'_>, index: usize) -> Result {
        let slot = self.slot(index).ok_or(EINVAL)?;
        if !slot.owner.load(Ordering::Acquire).is_null() {
            return Err(EBUSY);
        }
        // SAFETY: `current` is valid; `get_task_pid` returns a counted reference, which the
        // slot keeps until `close_slot`.
        let pid = unsafe { bindings::get_task_pid(bindings::get_current(), bindings::pid_type_PIDTYPE_TGID) };
        if pid.is_null() {
            return Err(ESRCH);
        }
        slot.owner.store(pid, Ordering::Release);
        // SAFETY: the entry is initialised (`Slot::init`) and not queued anywhere (the slot
        // had no owner); the pid stays alive while we hold its reference. Its wait head is
        // woken when the thread group exits (as pidfd poll uses).
        unsafe { bindings::add_wait_queue(addr_of_mut!((*pid).wait_pidfd), slot.watch.get()) };
        slot.with_lock(|queue| queue.open = true);
        Ok(())
    }

    /// Takes queue `index` away from its owner (socket locked): stops watching the process,
    /// and moves the connections parked there to where [`Policy::route`] sends them now (call
    /// after updating the routing) or, with `park == false`, to the normal queue. Returns how
    /// many moved.
    pub fn close_slot(&self, _guard: &mut SockGuard<'_>, index: usize, park: bool) -> usize {
        let Some(slot) = self.slot(index) else {
            return 0;
        };
        let pid = slot.owner.load(Ordering::Acquire);
        if !pid.is_null() {
            // SAFETY: the entry was added to this pid's wait head by `open_slot` and we still
            // hold the pid. After removal the wake function cannot run any more, so clearing
            // `exited` afterwards cannot race with it.
            unsafe { bindings::remove_wait_queue(addr_of_mut!((*pid).wait_pidfd), slot.watch.get()) };
            slot.exited.store(null_mut(), Ordering::Release);
            slot.owner.store(null_mut(), Ordering::Release);
            // SAFETY: the reference taken in `open_slot`.
            unsafe { bindings::put_pid(pid) };
        }
        let parked = slot.with_lock(|queue| {
            queue.open = false;
            queue.take_all()
        });
        slot.depth.store(0, Ordering::Relaxed);
        let mut moved = 0;
        for req in parked {
            // SAFETY: the socket is locked (the guard), the request is ours (taken off the
            // queue) and its child is set; C re-parks it or links it to the normal queue.
            let normal = unsafe { bindings::sock_level_hash_requeue(self.sk, req.as_ptr(), park) };
            if normal {
                self.normal_queued.fetch_add(1, Ordering::Relaxed);
            }
            moved += 1;
        }
        slot.stats.moved.fetch_add(moved, Ordering::Relaxed);
        moved as usize
    }

    /// Every connection parked anywhere goes to the normal queue (the listener stopped
    /// listening; the caller disposes of the normal queue). Owners stay registered.
    fn unpark_all(&self, _guard: &mut SockGuard<'_>) {
        for index in 0..MAX_QUEUES {
            let Some(slot) = self.slot(index) else {
                break;
            };
            let parked = slot.with_lock(|queue| queue.take_all());
            slot.depth.store(0, Ordering::Relaxed);
            for req in parked {
                // SAFETY: as in `close_slot`; with `park == false` C links it to the normal
                // queue.
                unsafe { bindings::sock_level_hash_requeue(self.sk, req.as_ptr(), false) };
            }
        }
    }
}

/// A completed connection in a priority queue (a `request_sock` whose `sk` is the child).
struct ReqQueue {
    head: *mut bindings::request_sock,
    tail: *mut bindings::request_sock,
    /// Whether the queue has an owner that accepts from it: parking is refused otherwise.
    open: bool,
}

impl ReqQueue {
    fn take_all(&mut self) -> ReqIter {
        let head = self.head;
        self.head = null_mut();
        self.tail = null_mut();
        ReqIter(head)
    }
}

/// Connections taken off a queue, linked through `dl_next`.
struct ReqIter(*mut bindings::request_sock);

impl Iterator for ReqIter {
    type Item = NonNull<bindings::request_sock>;

    fn next(&mut self) -> Option<Self::Item> {
        let req = NonNull::new(self.0)?;
        // SAFETY: the list was detached from a queue under its lock and is ours; `dl_next` is
        // read before the request is handed on (which rewrites it).
        self.0 = unsafe { (*req.as_ptr()).dl_next };
        Some(req)
    }
}

/// Counters of one queue (the uapi's `struct sock_level_hash_queue`).
#[derive(Default)]
pub struct SlotStats {
    /// Connections parked here.
    pub queued: AtomicU64,
    /// Connections accepted from here.
    pub accepted: AtomicU64,
    /// Connections moved away when the owner left.
    pub moved: AtomicU64,
    /// Times the owner's blocking `accept()` woke up.
    pub wakeups: AtomicU64,
}

/// One priority queue: a FIFO of parked connections, the wait head its owner sleeps or polls
/// on, the owner and the watch on its exit.
///
/// # Invariants
///
/// After `init`, `wait`, `watch` and `work` are initialised C objects that never move (the
/// slot lives in a heap chunk until the listener is freed); `queue` is accessed only under
/// `wait`'s spinlock.
pub struct Slot {
    index: usize,
    wait: Opaque<bindings::wait_queue_head>,
    queue: UnsafeCell<ReqQueue>,
    depth: AtomicU32,
    /// The owner's thread-group pid (a counted reference), null when free.
    owner: AtomicPtr<bindings::pid>,
    /// Set by the exit callback: the pid whose exit the work must handle.
    exited: AtomicPtr<bindings::pid>,
    watch: Opaque<bindings::wait_queue_entry>,
    work: Opaque<bindings::work_struct>,
    listener: AtomicPtr<c_void>,
    /// The queue's counters.
    pub stats: SlotStats,
}

// SAFETY: the C members are designed for concurrent use; `queue` is guarded by the wait head's
// lock (type invariant); the rest are atomics.
unsafe impl Sync for Slot {}
// SAFETY: as above.
unsafe impl Send for Slot {}

/// Lockdep classes of the slots' wait heads and exit works (lockdep wants static keys).
struct LockClass(Opaque<bindings::lock_class_key>);
// SAFETY: lockdep synchronises its use of the keys itself.
unsafe impl Sync for LockClass {}
static WAIT_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
static WORK_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());

impl Slot {
    fn new(index: usize) -> Self {
        Self {
            index,
            wait: Opaque::uninit(),
            queue: UnsafeCell::new(ReqQueue {
                head: null_mut(),
                tail: null_mut(),
                open: false,
            }),
            depth: AtomicU32::new(0),
            owner: AtomicPtr::new(null_mut()),
            exited: AtomicPtr::new(null_mut()),
            watch: Opaque::uninit(),
            work: Opaque::uninit(),
            listener: AtomicPtr::new(null_mut()),
            stats: SlotStats::default(),
        }
    }

    /// Initialises the C members in place.
    ///
    /// # Safety
    ///
    /// Called once, on a slot at its final address, before it is published.
    unsafe fn init<P: Policy>(&self, listener: &Listener<P>) {
        self.listener
            .store((listener as *const Listener<P>).cast_mut().cast(), Ordering::Relaxed);
        // SAFETY: the members are at their final addresses (function's requirements); the
        // keys are static.
        unsafe {
            bindings::__init_waitqueue_head(
                self.wait.get(),
                kernel::c_str!("sock_level_hash_queue").as_char_ptr(),
                WAIT_LOCK_CLASS.0.get(),
            );
            let watch = self.watch.get();
            addr_of_mut!((*watch).flags).write(0);
            addr_of_mut!((*watch).private).write(null_mut());
            addr_of_mut!((*watch).func).write(Some(owner_exit_wake::<P>));
            let list = addr_of_mut!((*watch).entry);
            (*list).next = list;
            (*list).prev = list;
            bindings::init_work_with_key(
                self.work.get(),
                Some(owner_exit_work::<P>),
                false,
                kernel::c_str!("sock_level_hash_exit").as_char_ptr(),
                WORK_LOCK_CLASS.0.get(),
            );
        }
    }

    /// The queue's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The owner's pid as seen from the caller's pid namespace, 0 when free.
    pub fn owner_pid(&self) -> i32 {
        let pid = self.owner.load(Ordering::Acquire);
        if pid.is_null() {
            return 0;
        }
        // SAFETY: callers hold the socket lock, under which the owner's reference is only
        // dropped by `close_slot`; `pid_vnr` reads it.
        unsafe { bindings::pid_vnr(pid) }
    }

    /// Whether a process owns the queue.
    pub fn has_owner(&self) -> bool {
        !self.owner.load(Ordering::Acquire).is_null()
    }

    /// Connections waiting now.
    pub fn depth(&self) -> u32 {
        self.depth.load(Ordering::Relaxed)
    }

    fn with_lock<R>(&self, f: impl FnOnce(&mut ReqQueue) -> R) -> R {
        // SAFETY: the wait head is initialised (type invariant); its lock guards `queue`.
        let flags = unsafe { bindings::spin_lock_irqsave(addr_of_mut!((*self.wait.get()).lock)) };
        // SAFETY: we hold the lock that guards `queue`.
        let result = f(unsafe { &mut *self.queue.get() });
        // SAFETY: taken above with these flags.
        unsafe { bindings::spin_unlock_irqrestore(addr_of_mut!((*self.wait.get()).lock), flags) };
        result
    }

    /// Parks `req` if the queue has an owner and wakes it (one exclusive waiter: a thread
    /// blocked in `accept()` or an `EPOLLEXCLUSIVE` entry; every plain poll entry).
    ///
    /// # Safety
    ///
    /// `req` is a completed connection handed over by the enqueue hook (its child set).
    unsafe fn park(&self, req: *mut bindings::request_sock) -> bool {
        // SAFETY: we hold the wait head's lock inside `with_lock`; `req` is ours to link.
        self.with_lock(|queue| unsafe {
            if !queue.open {
                return false;
            }
            (*req).dl_next = null_mut();
            match NonNull::new(queue.tail) {
                Some(tail) => (*tail.as_ptr()).dl_next = req,
                None => queue.head = req,
            }
            queue.tail = req;
            self.depth.fetch_add(1, Ordering::Relaxed);
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
            bindings::__wake_up_locked_key(
                self.wait.get(),
                TASK_INTERRUPTIBLE,
                (EPOLLIN | EPOLLRDNORM) as usize as *mut c_void,
            );
            true
        })
    }

    fn pop(&self) -> Option<NonNull<bindings::request_sock>> {
        let req = self.with_lock(|queue| {
            let req = NonNull::new(queue.head)?;
            // SAFETY: linked requests are ours under the lock.
            queue.head = unsafe { (*req.as_ptr()).dl_next };
            if queue.head.is_null() {
                queue.tail = null_mut();
            }
            Some(req)
        })?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        Some(req)
    }
}

/// The registered `sock_level_hash_ops`; unregistered when dropped.
pub struct Registration<P: Policy> {
    ops: Pin<KBox<Opaque<bindings::sock_level_hash_ops>>>,
    _policy: PhantomData<P>,
}

// SAFETY: only dropped, which may happen from any process context.
unsafe impl<P: Policy> Send for Registration<P> {}
// SAFETY: a shared registration exposes nothing.
unsafe impl<P: Policy> Sync for Registration<P> {}

impl<P: Policy> Registration<P> {
    /// Registers the policy's hooks. Each listener with state holds a reference to `module`.
    pub fn new(module: &'static ThisModule) -> Result<Self> {
        let ops = KBox::pin(Opaque::<bindings::sock_level_hash_ops>::uninit(), GFP_KERNEL)?;
        // SAFETY: our own fresh allocation, fully written before registration.
        unsafe {
            ops.get().write(bindings::sock_level_hash_ops {
                owner: module.as_ptr(),
                setsockopt: Some(setsockopt_cb::<P>),
                getsockopt: Some(getsockopt_cb::<P>),
                enqueue: Some(enqueue_cb::<P>),
                dequeue: Some(dequeue_cb::<P>),
                accepted_normal: Some(accepted_normal_cb::<P>),
                pending: Some(pending_cb::<P>),
                wait_head: Some(wait_head_cb::<P>),
                woken: Some(woken_cb::<P>),
                poll: Some(poll_cb::<P>),
                listen_stop: Some(listen_stop_cb::<P>),
                release: Some(release_cb::<P>),
            });
        }
        // SAFETY: the table is initialised and pinned until `drop` unregisters it.
        kernel::error::to_result(unsafe { bindings::sock_level_hash_register_ops(ops.get()) })?;
        Ok(Self {
            ops,
            _policy: PhantomData,
        })
    }
}

impl<P: Policy> Drop for Registration<P> {
    fn drop(&mut self) {
        // SAFETY: registered in `new`. No listener has state (each holds a module reference),
        // hence no pending work; unregistering waits for option calls in flight.
        unsafe { bindings::sock_level_hash_unregister_ops(self.ops.get()) };
    }
}

/// Longest option value copied in: the struct and room for zeros after it.
const MAX_OPTVAL: usize = 64;
/// Longest `SO_SOCKLEVELHASH_INFO` answer: the header and every queue.
const MAX_INFO: usize = 32 + 40 * MAX_QUEUES;

unsafe extern "C" fn setsockopt_cb<P: Policy>(
    sk: *mut bindings::sock,
    optname: c_int,
    optval: bindings::sockptr_t,
    optlen: c_uint,
) -> c_int {
    from_result(|| {
        let option = SockOpt::from_raw(optname).ok_or_else(enoprotoopt)?;
        let len = usize::try_from(optlen).map_err(|_| EINVAL)?;
        if len > MAX_OPTVAL {
            return Err(EINVAL);
        }
        let mut value = [0u8; MAX_OPTVAL];
        // SAFETY: `optval` is the caller's option buffer of `optlen` bytes.
        if unsafe { bindings::copy_from_sockptr(value.as_mut_ptr().cast(), optval, len) } != 0 {
            return Err(EFAULT);
        }
        let sk = NonNull::new(sk).ok_or(EINVAL)?;
        let mut sock = Sock::<P> {
            // SAFETY: C calls us with the TCP socket locked.
            guard: unsafe { SockGuard::held(sk) },
            _policy: PhantomData,
        };
        P::setsockopt(&mut sock, option, &value[..len])?;
        Ok(0)
    })
}

unsafe extern "C" fn getsockopt_cb<P: Policy>(
    sk: *mut bindings::sock,
    optname: c_int,
    optval: bindings::sockptr_t,
    optlen: bindings::sockptr_t,
) -> c_int {
    from_result(|| {
        let option = SockOpt::from_raw(optname).ok_or_else(enoprotoopt)?;
        let mut len: c_int = 0;
        // SAFETY: `optlen` points to the caller's int.
        if unsafe { bindings::copy_from_sockptr(addr_of_mut!(len).cast(), optlen, 4) } != 0 {
            return Err(EFAULT);
        }
        let len = usize::try_from(len).map_err(|_| EINVAL)?.min(MAX_INFO);
        let mut out = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let sk = NonNull::new(sk).ok_or(EINVAL)?;
        let mut sock = Sock::<P> {
            // SAFETY: C calls us with the TCP socket locked.
            guard: unsafe { SockGuard::held(sk) },
            _policy: PhantomData,
        };
        let written = P::getsockopt(&mut sock, option, &mut out)?.min(len);
        let written_int = c_int::try_from(written).map_err(|_| EINVAL)?;
        // SAFETY: both are the caller's buffers; `written <= len` bytes fit in `optval`.
        unsafe {
            if bindings::copy_to_sockptr(optval, out.as_ptr().cast(), written) != 0
                || bindings::copy_to_sockptr(optlen, addr_of!(written_int).cast(), 4) != 0
            {
                return Err(EFAULT);
            }
        }
        Ok(0)
    })
}

/// The listener state of a socket that C says has one (it tested the pointer).
///
/// # Safety
///
/// `sk` is a live TCP socket with state, and the state is not released during `'a`: the C
/// hooks run while the caller holds the socket's file (accept, poll) or under `rskq_lock`
/// (enqueue), and `release_cb` detaches the state under `rskq_lock` at close.
unsafe fn listener<'a, P: Policy>(sk: *mut bindings::sock) -> Option<&'a Listener<P>> {
    // SAFETY: see the function's requirements.
    unsafe { Listener::<P>::of(sk) }
}

/// The flow of a completed connection, client first.
///
/// # Safety
///
/// `req` is a live request sock.
unsafe fn flow_of(req: *mut bindings::request_sock) -> FlowKey {
    let mut flow = bindings::sock_level_hash_flow::default();
    // SAFETY: `req` is live (function's requirements); C fills `flow`.
    unsafe { bindings::sock_level_hash_flow(req, &mut flow) };
    if flow.family == AF_INET6 {
        FlowKey::V6 {
            src: flow.client,
            dst: flow.server,
            sport: flow.client_port,
            dport: flow.server_port,
        }
    } else {
        let four = |bytes: &[u8; 16]| [bytes[0], bytes[1], bytes[2], bytes[3]];
        FlowKey::V4 {
            src: four(&flow.client),
            dst: four(&flow.server),
            sport: flow.client_port,
            dport: flow.server_port,
        }
    }
}

unsafe extern "C" fn enqueue_cb<P: Policy>(
    sk: *mut bindings::sock,
    req: *mut bindings::request_sock,
) -> bool {
    // SAFETY: C calls us under `rskq_lock` for a socket with state (see `listener`).
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return false;
    };
    // SAFETY: C hands us a completed connection with its child set.
    let flow = unsafe { flow_of(req) };
    let parked = P::route(listener, &flow)
        .and_then(|index| listener.slot(index))
        // SAFETY: as above; on success the slot owns the request.
        .is_some_and(|slot| unsafe { slot.park(req) });
    if !parked {
        listener.normal_queued.fetch_add(1, Ordering::Relaxed);
    }
    parked
}

unsafe extern "C" fn dequeue_cb<P: Policy>(sk: *mut bindings::sock) -> *mut bindings::request_sock {
    // SAFETY: accept holds the socket lock and the file (see `listener`).
    let listener = unsafe { listener::<P>(sk) };
    listener
        .and_then(|listener| listener.caller_slot())
        .and_then(|slot| slot.pop())
        .map_or(null_mut(), |req| req.as_ptr())
}

unsafe extern "C" fn accepted_normal_cb<P: Policy>(sk: *mut bindings::sock) {
    // SAFETY: as in `dequeue_cb`.
    if let Some(listener) = unsafe { listener::<P>(sk) } {
        listener.normal_accepted.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe extern "C" fn pending_cb<P: Policy>(sk: *mut bindings::sock) -> bool {
    // SAFETY: called from a blocking accept, which holds the file (see `listener`).
    let listener = unsafe { listener::<P>(sk) };
    listener
        .and_then(|listener| listener.caller_slot())
        .is_some_and(|slot| slot.depth() > 0)
}

unsafe extern "C" fn wait_head_cb<P: Policy>(sk: *mut bindings::sock) -> *mut bindings::wait_queue_head {
    // SAFETY: as in `dequeue_cb`; the wait head lives until the socket is closed.
    let listener = unsafe { listener::<P>(sk) };
    listener
        .and_then(|listener| listener.caller_slot())
        .map_or(null_mut(), |slot| slot.wait.get())
}

unsafe extern "C" fn woken_cb<P: Policy>(sk: *mut bindings::sock) {
    // SAFETY: as in `dequeue_cb`.
    let listener = unsafe { listener::<P>(sk) };
    if let Some(slot) = listener.and_then(|listener| listener.caller_slot()) {
        slot.stats.wakeups.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe extern "C" fn poll_cb<P: Policy>(
    file: *mut bindings::file,
    sk: *mut bindings::sock,
    wait: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: poll holds the file (see `listener`).
    let listener = unsafe { listener::<P>(sk) };
    let Some(slot) = listener.and_then(|listener| listener.caller_slot()) else {
        return 0;
    };
    // SAFETY: the wait head lives until the socket is closed, after every poller let go of
    // the file (epoll entries are removed when the file is released).
    unsafe { bindings::poll_wait(file, slot.wait.get(), wait) };
    if slot.depth() > 0 {
        EPOLLIN | EPOLLRDNORM
    } else {
        0
    }
}

unsafe extern "C" fn listen_stop_cb<P: Policy>(sk: *mut bindings::sock) {
    // SAFETY: C calls us with the socket locked and its file held.
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return;
    };
    let Some(sk) = NonNull::new(sk) else {
        return;
    };
    // SAFETY: the state change to a non-listening state happened under `rskq_lock`'s
    // protection of the enqueue hook; taking the lock once makes every enqueue that still
    // saw the listening state finish before we empty the queues.
    unsafe {
        let queue = addr_of_mut!((*sk.as_ptr().cast::<bindings::inet_connection_sock>()).icsk_accept_queue);
        bindings::spin_lock_bh(addr_of_mut!((*queue).rskq_lock));
        bindings::spin_unlock_bh(addr_of_mut!((*queue).rskq_lock));
    }
    // SAFETY: the socket is locked by our caller.
    let mut guard = unsafe { SockGuard::held(sk) };
    listener.unpark_all(&mut guard);
}

unsafe extern "C" fn release_cb<P: Policy>(sk: *mut bindings::sock) {
    let Some(sk) = NonNull::new(sk) else {
        return;
    };
    // SAFETY: called from `tcp_close()` without the lock; the socket lives until it returns.
    let state = {
        // SAFETY: see above.
        let mut guard = unsafe { SockGuard::lock(sk) };
        // SAFETY: the state lives until we free it below.
        let Some(listener) = (unsafe { listener::<P>(sk.as_ptr()) }) else {
            return;
        };
        listener.closing.store(true, Ordering::Release);
        P::release(listener, &mut guard);
        // Detach under `rskq_lock`: an enqueue in flight finishes first, later ones see none.
        // SAFETY: `sk` is a TCP socket with this state.
        unsafe {
            let queue = addr_of_mut!((*sk.as_ptr().cast::<bindings::inet_connection_sock>()).icsk_accept_queue);
            bindings::spin_lock_bh(addr_of_mut!((*queue).rskq_lock));
            core::ptr::write_volatile(addr_of_mut!((*queue).slh), null_mut());
            bindings::spin_unlock_bh(addr_of_mut!((*queue).rskq_lock));
        }
        (listener as *const Listener<P>).cast_mut()
    };
    // The socket lock is released: an exit work waiting for it sees `closing` and returns.
    // SAFETY: the state was created by `KBox::into_raw` in `listener_or_create` and is no
    // longer reachable from the socket; after every exit work is cancelled nothing uses it.
    unsafe {
        for entry in (*state).chunks.iter() {
            let chunk = entry.load(Ordering::Acquire);
            if chunk.is_null() {
                break;
            }
            for slot in (*chunk).iter() {
                bindings::cancel_work_sync(slot.work.get());
            }
            drop(KBox::from_raw(chunk));
        }
        drop(KBox::from_raw(state));
    }
}

unsafe extern "C" fn owner_exit_wake<P: Policy>(
    entry: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    _key: *mut c_void,
) -> c_int {
    // SAFETY: `entry` is the `watch` of a slot (only `Slot::init` sets this function), which
    // stays allocated while the entry is on the pid's wait head.
    let slot = unsafe { &*kernel::container_of!(entry, Slot, watch) };
    slot.exited.store(slot.owner.load(Ordering::Acquire), Ordering::Release);
    // SAFETY: the work is initialised; `system_wq` exists from boot. Atomic context (the
    // pid's wait head lock is held): queueing does not sleep.
    unsafe {
        bindings::queue_work_on(
            bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
            bindings::system_wq,
            slot.work.get(),
        )
    };
    0
}

unsafe extern "C" fn owner_exit_work<P: Policy>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` of a slot (only `Slot::init` sets this function); the
    // slot and its listener stay allocated until `release_cb` has cancelled this work.
    let slot = unsafe { &*kernel::container_of!(work, Slot, work) };
    // SAFETY: as above.
    let listener = unsafe { &*slot.listener.load(Ordering::Acquire).cast::<Listener<P>>() };
    let Some(sk) = NonNull::new(listener.sk) else {
        return;
    };
    // SAFETY: the socket outlives its state; process context.
    let mut guard = unsafe { SockGuard::lock(sk) };
    if listener.closing.load(Ordering::Acquire) {
        return;
    }
    let exited = slot.exited.swap(null_mut(), Ordering::AcqRel);
    if !exited.is_null() && exited == slot.owner.load(Ordering::Acquire) {
        P::owner_exited(listener, &mut guard, slot.index);
    }
}
