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
//! - each slot has its own spinlock: parking and taking one process's connections never touch
//!   another's, so workers share no new lock;
//! - a process waits (blocking `accept()`, `poll()`, `select()`, epoll) on a wait head of its
//!   own per listener, a [`ProcWait`] found by its thread-group pid, not on a queue's: the
//!   entry an epoll set adds once, at `EPOLL_CTL_ADD`, then stays right whether the process
//!   registers before or after, re-registers or leaves its queue, and a process that left a
//!   queue never takes a wake-up meant for the queue's next owner;
//! - slots are allocated in chunks that stay put until the socket is closed; a `ProcWait` is
//!   freed only when no entry is left on its head and no task of its process is left to add
//!   one (or at close), so no waiter's head is freed under it.
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

use crate::bound;
use crate::hash::FlowKey;

/// Queues per allocation: small chunks, so a listener with few queues stays small and the
/// chunk is built on the stack without risk.
pub const CHUNK: usize = 8;
/// The most queues of a listener (the uapi's 1024).
pub const MAX_QUEUES: usize = 1024;
const MAX_CHUNKS: usize = MAX_QUEUES / CHUNK;

const EPOLLIN: u32 = 0x1;
const EPOLLRDNORM: u32 = 0x40;
/// The key of a wake-up for readable data (C's `poll_to_key(EPOLLIN | EPOLLRDNORM)`).
const POLL_IN_KEY: *mut c_void = (EPOLLIN | EPOLLRDNORM) as usize as *mut c_void;
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
    fn new_data(guard: &SockGuard<'_>) -> Result<KBox<Self::Data>>;

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

    /// The owner of `slot` let [`bound::MISSES_FOR_STANDBY`] connections in a row wait out
    /// the bounded wait: take its buckets (it stays registered) and call
    /// [`Listener::set_standby`].
    fn owner_lagging(listener: &Listener<Self>, guard: &mut SockGuard<'_>, slot: usize);

    /// The owner of `slot`, on standby, calls `accept()` again: give it a share back and call
    /// [`Listener::set_standby`].
    fn owner_back(listener: &Listener<Self>, guard: &mut SockGuard<'_>, slot: usize);

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
        // SAFETY: the socket is live while the guard exists. Its state changes under the
        // lock we hold, but softirq reads it without the lock, and a few transitions of a
        // socket that is not listening are made there: a volatile load, as C's
        // `inet_sk_state_load()`/`READ_ONCE()`.
        unsafe { core::ptr::read_volatile(addr_of!((*self.sk.as_ptr()).__sk_common.skc_state)) }
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

/// Data changed only under one listener's socket lock, which a [`SockGuard`] of that socket
/// proves. Bound to its socket when made and checked on each access, as
/// `kernel::sync::LockedBy` checks its owner (a guard of another socket is a bug, and panics).
pub struct SockLocked<T> {
    sk: *const bindings::sock,
    value: UnsafeCell<T>,
}

// SAFETY: access is serialised by the socket lock (see `get`); `sk` is only compared.
unsafe impl<T: Send> Sync for SockLocked<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SockLocked<T> {}

impl<T> SockLocked<T> {
    /// Wraps `value`, guarded by the lock of the socket `guard` holds.
    pub fn new(guard: &SockGuard<'_>, value: T) -> Self {
        Self {
            sk: guard.sk.as_ptr(),
            value: UnsafeCell::new(value),
        }
    }

    /// The data, while the caller holds the socket lock of the listener that owns it.
    pub fn get<'a>(&'a self, guard: &'a mut SockGuard<'_>) -> &'a mut T {
        if !core::ptr::eq(guard.sk.as_ptr(), self.sk) {
            panic!("SockLocked accessed under another socket's lock");
        }
        // SAFETY: the guard proves this socket's lock is held (checked above) and is borrowed
        // mutably for as long as the reference lives, so no other reference exists.
        unsafe { &mut *self.value.get() }
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
        let data = P::new_data(&self.guard)?;
        let listener = KBox::into_raw(KBox::new(
            Listener {
                sk: self.guard.sk.as_ptr(),
                chunks: [const { AtomicPtr::new(null_mut()) }; MAX_CHUNKS],
                procs: ProcWaits::new(),
                closing: AtomicBool::new(false),
                normal_queued: AtomicU64::new(0),
                normal_accepted: AtomicU64::new(0),
                max_wait: AtomicU32::new(0),
                timer: Opaque::uninit(),
                data,
            },
            GFP_KERNEL,
        )?);
        let sk = self.guard.sk.as_ptr();
        // SAFETY: the state is our fresh allocation, at its final address, not yet published;
        // the timer's key is static. `release_cb` shuts the timer down before freeing it.
        unsafe {
            (*listener).procs.init();
            bindings::init_timer_key(
                (*listener).timer.get(),
                Some(expire_cb::<P>),
                0,
                kernel::c_str!("sock_level_hash_expire").as_char_ptr(),
                TIMER_LOCK_CLASS.0.get(),
            );
        }
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
    procs: ProcWaits,
    closing: AtomicBool,
    normal_queued: AtomicU64,
    normal_accepted: AtomicU64,
    /// The bounded wait in jiffies; 0: strict, nothing expires.
    max_wait: AtomicU32,
    /// Fires when the oldest parked connection reaches the bounded wait (armed while any is
    /// parked); it moves every expired connection to the normal queue.
    timer: Opaque<bindings::timer_list>,
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

    /// The queue owned by the calling process (thread group), if any: one look-up of the
    /// process's [`ProcWait`], no scan of the queues.
    pub fn caller_slot(&self) -> Option<&Slot> {
        let index = self.procs.caller()?.slot.load(Ordering::Acquire);
        self.slot(index.checked_sub(1)? as usize)
    }

    /// Connections that went to the normal queue / were accepted from it.
    pub fn normal_counts(&self) -> (u64, u64) {
        (
            self.normal_queued.load(Ordering::Relaxed),
            self.normal_accepted.load(Ordering::Relaxed),
        )
    }

    /// Sets the bounded wait (0: strict). Connections already parked are judged by the new
    /// value from the next expiry check on.
    pub fn set_max_wait(&self, _guard: &mut SockGuard<'_>, max_wait_ms: u32) {
        let jiffies = if max_wait_ms == 0 {
            0
        } else {
            // SAFETY: a pure conversion. At least one jiffy: 0 would mean strict.
            (unsafe { bindings::__msecs_to_jiffies(max_wait_ms) } as u32).max(1)
        };
        self.max_wait.store(jiffies, Ordering::Relaxed);
        if jiffies != 0 {
            // Connections parked under the strict mode now have a bound too.
            self.arm_timer(now(), jiffies);
            return;
        }
        // The strict mode has no timer to end a hold: owners on standby may come back now.
        for index in 0..MAX_QUEUES {
            let Some(slot) = self.slot(index) else {
                break;
            };
            if slot.on_standby() {
                slot.standby_hold.store(0, Ordering::Relaxed);
                slot.wake_owner();
            }
        }
    }

    /// Whether parked connections have a bounded wait (the mode is not strict).
    pub fn bounded(&self) -> bool {
        self.max_wait.load(Ordering::Relaxed) != 0
    }

    /// The listen backlog (`listen()`'s argument, capped by `somaxconn`).
    pub fn max_backlog(&self) -> u32 {
        // SAFETY: the socket outlives its state; the field is read without a lock, as the
        // stock accept-queue-full check does.
        unsafe { core::ptr::read_volatile(addr_of!((*self.sk).sk_max_ack_backlog)) }
    }

    /// Arms the expiry timer to fire at `from + max_wait` unless it fires earlier already;
    /// lockless and cheap when it does.
    fn arm_timer(&self, from: u32, max_wait: u32) {
        let at = bound::deadline(from, max_wait);
        // SAFETY: the timer is initialised (`listener_or_create`) and shut down only when the
        // state goes. `jiffies` is read whole (a `long`); `at` is within half the 32-bit range
        // of its low bits, so widening the difference gives the full expiry.
        unsafe {
            let jiffies = core::ptr::read_volatile(addr_of!(bindings::jiffies));
            let ahead = at.wrapping_sub(jiffies as u32) as i32;
            bindings::timer_reduce(self.timer.get(), jiffies.wrapping_add(ahead as isize as usize));
        }
    }

    /// Puts the owner of queue `index` on standby (`on`) or takes it off (socket locked),
    /// after the policy moved its buckets. Going on standby, its parked connections go to the
    /// normal queue (they already waited part of the bound) and it is held there for
    /// [`bound::standby_hold`]; when the hold has passed its process is woken and poll reports
    /// the listener readable, so that an event loop calls `accept()`, which takes it off
    /// ([`Policy::owner_back`]).
    pub fn set_standby(&self, _guard: &mut SockGuard<'_>, index: usize, on: bool) {
        let Some(slot) = self.slot(index) else {
            return;
        };
        slot.misses.store(0, Ordering::Relaxed);
        let now = now();
        if !on {
            if slot.standby.swap(false, Ordering::AcqRel) {
                slot.stats.promotions.fetch_add(1, Ordering::Relaxed);
                slot.returned_at.store(now, Ordering::Relaxed);
                slot.returned.store(true, Ordering::Relaxed);
            }
            return;
        }
        if slot.on_standby() {
            return;
        }
        // A slow but live owner would come back at its next accept() and fall behind at once:
        // it stays on standby for a hold that doubles with each relapse.
        let max_wait = self.max_wait.load(Ordering::Relaxed);
        let returned = slot
            .returned
            .load(Ordering::Relaxed)
            .then(|| slot.returned_at.load(Ordering::Relaxed));
        let relapses = bound::relapses_after_demotion(slot.relapses.load(Ordering::Relaxed), returned, now, max_wait);
        slot.relapses.store(relapses, Ordering::Relaxed);
        let hold = bound::standby_hold(max_wait, relapses);
        slot.standby_since.store(now, Ordering::Relaxed);
        slot.standby_hold.store(hold, Ordering::Relaxed);
        // Set under the slot's lock, as `park` reads it: nothing parks here after the take,
        // even from an enqueue that read the routing before the policy republished it.
        let parked = slot.with_lock(|queue| {
            if slot.standby.swap(true, Ordering::AcqRel) {
                return None;
            }
            slot.depth.store(0, Ordering::Relaxed);
            Some(queue.take_all())
        });
        let Some(parked) = parked else {
            return;
        };
        // The hold's end wakes the owner (`expire`, which looks only at owners on standby):
        // poll reports it readable only then.
        self.arm_timer(now, hold);
        slot.stats.demotions.fetch_add(1, Ordering::Relaxed);
        let mut moved = 0;
        for req in parked {
            // The rest already waited part of the bound: the normal queue takes them now
            // (parked again elsewhere they would start a new wait).
            // SAFETY: as in `close_slot`; with `park == false` C links it to the normal queue.
            unsafe { bindings::sock_level_hash_requeue(self.sk, req.as_ptr(), false) };
            moved += 1;
        }
        self.normal_queued.fetch_add(moved, Ordering::Relaxed);
        slot.stats.moved.fetch_add(moved, Ordering::Relaxed);
        slot.wake_owner();
    }

    /// Moves every connection that waited out the bounded wait to the normal queue (timer,
    /// softirq); marks owners that keep missing it for standby; wakes owners whose standby
    /// hold has passed. Returns when it must run next: the oldest remaining connection's
    /// expiry or the end of a hold, whichever comes first.
    fn expire(&self) -> Option<u32> {
        let max_wait = self.max_wait.load(Ordering::Relaxed);
        if max_wait == 0 {
            return None;
        }
        let sk = self.sk;
        // SAFETY: the socket outlives its state (`release_cb` shuts the timer down first); a
        // TCP socket is an `inet_connection_sock`.
        let rskq_lock = unsafe {
            addr_of_mut!((*sk.cast::<bindings::inet_connection_sock>()).icsk_accept_queue.rskq_lock)
        };
        let mut spilled = 0u32;
        let mut next: Option<u32> = None;
        // SAFETY: `rskq_lock` is initialised; under it the normal queue may be linked.
        unsafe { bindings::spin_lock_bh(rskq_lock) };
        // The state changes without `rskq_lock`, but `listen_stop_cb` takes the lock after the
        // change, before it empties the queues: what we spill while we still see the listening
        // state reaches the normal queue before that is disposed of.
        // SAFETY: the socket is live (see above); a byte read.
        let listening = unsafe { core::ptr::read_volatile(addr_of!((*sk).__sk_common.skc_state)) } == TCP_LISTEN;
        if listening && !self.closing.load(Ordering::Acquire) {
            let now = now();
            for index in 0..MAX_QUEUES {
                let Some(slot) = self.slot(index) else {
                    break;
                };
                if slot.on_standby() {
                    if slot.may_return(now) {
                        slot.wake_owner();
                    } else {
                        let end = bound::deadline(
                            slot.standby_since.load(Ordering::Relaxed),
                            slot.standby_hold.load(Ordering::Relaxed),
                        );
                        next = Some(earliest(next, end));
                    }
                }
                if slot.depth() == 0 {
                    continue;
                }
                let (expired, head) = slot.with_lock(|queue| {
                    let mut expired = 0u32;
                    while let Some(req) = NonNull::new(queue.head) {
                        // SAFETY: linked requests are ours under the slot's lock; `rskq_lock`
                        // is held for linking them to the normal queue.
                        unsafe {
                            let parked = (*req.as_ptr()).slh_parked;
                            if !bound::expired(parked, now, max_wait) {
                                return (expired, Some(parked));
                            }
                            queue.head = (*req.as_ptr()).dl_next;
                            if queue.head.is_null() {
                                queue.tail = null_mut();
                            }
                            bindings::sock_level_hash_spill_locked(sk, req.as_ptr());
                        }
                        slot.depth.fetch_sub(1, Ordering::Relaxed);
                        expired += 1;
                    }
                    (expired, None)
                });
                if expired > 0 {
                    slot.stats.expired.fetch_add(u64::from(expired), Ordering::Relaxed);
                    spilled += expired;
                    let misses = slot.misses.fetch_add(expired, Ordering::Relaxed) + expired;
                    if bound::goes_on_standby(misses) && !slot.standby.load(Ordering::Relaxed) {
                        slot.standby_pending.store(true, Ordering::Release);
                        slot.queue_work();
                    }
                }
                if let Some(parked) = head {
                    next = Some(earliest(next, bound::deadline(parked, max_wait)));
                }
            }
        }
        // SAFETY: taken above.
        unsafe { bindings::spin_unlock_bh(rskq_lock) };
        if spilled > 0 {
            self.normal_queued.fetch_add(u64::from(spilled), Ordering::Relaxed);
            // SAFETY: the socket is live (see above); process or softirq context.
            unsafe { bindings::sock_level_hash_wake_normal(sk, spilled) };
        }
        next
    }

    /// Gives queue `index` to the calling process: connections can be parked there from now
    /// on, and the process's exit is watched (socket locked).
    pub fn open_slot(&self, _guard: &mut SockGuard<'_>, index: usize) -> Result {
        let slot = self.slot(index).ok_or(EINVAL)?;
        if !slot.owner.load(Ordering::Acquire).is_null() {
            return Err(EBUSY);
        }
        let proc_wait = self.procs.caller_or_create()?;
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
        proc_wait.slot.store(index as u32 + 1, Ordering::Release);
        slot.with_lock(|queue| {
            queue.open = true;
            queue.waiter = proc_wait;
        });
        Ok(())
    }

    /// Takes queue `index` away from its owner (socket locked): stops watching the process,
    /// and moves the connections parked there to where [`Policy::route`] sends them now (call
    /// after updating the routing) or, with `park == false`, to the normal queue. Returns how
    /// many moved.
    pub fn close_slot(&self, guard: &mut SockGuard<'_>, index: usize, park: bool) -> usize {
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
        slot.standby.store(false, Ordering::Relaxed);
        slot.standby_pending.store(false, Ordering::Relaxed);
        slot.misses.store(0, Ordering::Relaxed);
        // The next owner starts without relapses.
        slot.relapses.store(0, Ordering::Relaxed);
        slot.returned.store(false, Ordering::Relaxed);
        let parked = slot.with_lock(|queue| {
            queue.open = false;
            // SAFETY: a `ProcWait` lives until the listener is freed or collected, and one
            // that a queue points to is never collected.
            if let Some(proc_wait) = unsafe { queue.waiter.as_ref() } {
                proc_wait.slot.store(0, Ordering::Release);
            }
            queue.waiter = null_mut();
            slot.depth.store(0, Ordering::Relaxed);
            queue.take_all()
        });
        let mut moved = 0;
        // C consults the enqueue hook, which counts what it sends to the normal queue, only
        // to re-park on a listening socket; the state cannot change while we hold its lock.
        let consulted = park && guard.tcp_state() == TCP_LISTEN;
        for req in parked {
            // SAFETY: the socket is locked (the guard), the request is ours (taken off the
            // queue) and its child is set; C re-parks it or links it to the normal queue.
            let normal = unsafe { bindings::sock_level_hash_requeue(self.sk, req.as_ptr(), park) };
            if normal && !consulted {
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
            let parked = slot.with_lock(|queue| {
                slot.depth.store(0, Ordering::Relaxed);
                queue.take_all()
            });
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
    /// The owner's wait head, woken for each parked connection (null without an owner).
    waiter: *const ProcWait,
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
    /// Connections sent to the normal queue after waiting out the bounded wait.
    pub expired: AtomicU64,
    /// Connections sent to the normal queue because the queue held its share.
    pub overflowed: AtomicU64,
    /// Times the owner went on standby.
    pub demotions: AtomicU64,
    /// Times it came back.
    pub promotions: AtomicU64,
}

/// One priority queue: a FIFO of parked connections, its owner (whose [`ProcWait`] is woken
/// for each) and the watch on the owner's exit.
///
/// # Invariants
///
/// After `init`, `lock`, `watch` and `work` are initialised C objects that never move (the
/// slot lives in a heap chunk until the listener is freed); `queue` is accessed only under
/// `lock`.
pub struct Slot {
    index: usize,
    lock: Opaque<bindings::spinlock_t>,
    queue: UnsafeCell<ReqQueue>,
    depth: AtomicU32,
    /// The owner's thread-group pid (a counted reference), null when free.
    owner: AtomicPtr<bindings::pid>,
    /// Set by the exit callback: the pid whose exit the work must handle.
    exited: AtomicPtr<bindings::pid>,
    watch: Opaque<bindings::wait_queue_entry>,
    work: Opaque<bindings::work_struct>,
    /// Connections in a row that waited out the bounded wait since the owner last accepted.
    misses: AtomicU32,
    /// The owner is on standby: registered, without buckets.
    standby: AtomicBool,
    /// Set by the expiry timer: the work must put the owner on standby.
    standby_pending: AtomicBool,
    /// When the owner went on standby, and for how long at least (jiffies, see
    /// [`bound::standby_hold`]); written before `standby` is set.
    standby_since: AtomicU32,
    standby_hold: AtomicU32,
    /// The owner's relapses (see [`bound::relapses_after_demotion`]) and when it last came
    /// back from standby (valid if `returned`); written under the socket lock.
    relapses: AtomicU32,
    returned_at: AtomicU32,
    returned: AtomicBool,
    listener: AtomicPtr<c_void>,
    /// The listener's socket (set by `init`).
    sk: AtomicPtr<bindings::sock>,
    /// The queue's counters.
    pub stats: SlotStats,
}

// SAFETY: the C members are designed for concurrent use; `queue` is guarded by the slot's
// lock (type invariant); the rest are atomics.
unsafe impl Sync for Slot {}
// SAFETY: as above.
unsafe impl Send for Slot {}

/// Lockdep classes of the slots' locks, the processes' wait heads, the listener's list of
/// them and the exit works (lockdep wants static keys).
struct LockClass(Opaque<bindings::lock_class_key>);
// SAFETY: lockdep synchronises its use of the keys itself.
unsafe impl Sync for LockClass {}
static SLOT_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
static WAIT_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
static PROCS_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
static WORK_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
static TIMER_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());

impl Slot {
    fn new(index: usize) -> Self {
        Self {
            index,
            lock: Opaque::uninit(),
            queue: UnsafeCell::new(ReqQueue {
                head: null_mut(),
                tail: null_mut(),
                open: false,
                waiter: null_mut(),
            }),
            depth: AtomicU32::new(0),
            owner: AtomicPtr::new(null_mut()),
            exited: AtomicPtr::new(null_mut()),
            watch: Opaque::uninit(),
            work: Opaque::uninit(),
            misses: AtomicU32::new(0),
            standby: AtomicBool::new(false),
            standby_pending: AtomicBool::new(false),
            standby_since: AtomicU32::new(0),
            standby_hold: AtomicU32::new(0),
            relapses: AtomicU32::new(0),
            returned_at: AtomicU32::new(0),
            returned: AtomicBool::new(false),
            listener: AtomicPtr::new(null_mut()),
            sk: AtomicPtr::new(null_mut()),
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
        self.sk.store(listener.sk, Ordering::Relaxed);
        // SAFETY: the members are at their final addresses (function's requirements); the
        // keys are static.
        unsafe {
            bindings::__spin_lock_init(
                self.lock.get(),
                kernel::c_str!("sock_level_hash_queue").as_char_ptr(),
                SLOT_LOCK_CLASS.0.get(),
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

    /// Whether the owner is on standby (see [`Listener::set_standby`]).
    pub fn on_standby(&self) -> bool {
        self.standby.load(Ordering::Acquire)
    }

    /// Whether the owner is on standby and its hold has passed at `now`: its next `accept()`
    /// takes it off.
    fn may_return(&self, now: u32) -> bool {
        self.on_standby()
            && bound::may_return(
                self.standby_since.load(Ordering::Relaxed),
                self.standby_hold.load(Ordering::Relaxed),
                now,
            )
    }

    /// Queues the slot's work (owner exit, standby), from any context.
    fn queue_work(&self) {
        // SAFETY: the work is initialised; `system_wq` exists from boot; queueing does not
        // sleep. `release_cb` cancels it before the slot is freed.
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                bindings::system_wq,
                self.work.get(),
            )
        };
    }

    /// Wakes the owner's wait head (its poll and blocking accept), if it has one.
    fn wake_owner(&self) {
        self.with_lock(|queue| {
            // SAFETY: an open queue's waiter is not collected while the queue points to it.
            if let Some(waiter) = unsafe { queue.waiter.as_ref() } {
                // SAFETY: the head is initialised and lives as long as the `ProcWait`.
                unsafe { bindings::__wake_up(waiter.wait.get(), TASK_INTERRUPTIBLE, 1, POLL_IN_KEY) };
                if !waiter.waited.load(Ordering::Acquire) {
                    // As in `park`: an owner that never waited on its head (an epoll entry
                    // from before the option) waits on the socket's queue.
                    // SAFETY: the socket outlives its state, which owns this slot.
                    unsafe { wake_all_socket_waiters(self.sk.load(Ordering::Relaxed)) };
                }
            }
        });
    }

    fn with_lock<R>(&self, f: impl FnOnce(&mut ReqQueue) -> R) -> R {
        // SAFETY: the lock is initialised (type invariant) and guards `queue`.
        let flags = unsafe { bindings::spin_lock_irqsave(self.lock.get()) };
        // SAFETY: we hold the lock that guards `queue`.
        let result = f(unsafe { &mut *self.queue.get() });
        // SAFETY: taken above with these flags.
        unsafe { bindings::spin_unlock_irqrestore(self.lock.get(), flags) };
        result
    }

    /// Parks `req` if the queue has an owner and wakes the owner's head (one exclusive
    /// waiter: a thread blocked in `accept()` or an `EPOLLEXCLUSIVE` entry; every plain poll
    /// entry). Every waiter there belongs to the owner.
    ///
    /// # Safety
    ///
    /// `req` is a completed connection handed over by the enqueue hook (its child set).
    unsafe fn park(&self, req: *mut bindings::request_sock) -> bool {
        // SAFETY: we hold the slot's lock inside `with_lock`; `req` is ours to link.
        self.with_lock(|queue| unsafe {
            if !queue.open || self.standby.load(Ordering::Relaxed) {
                return false;
            }
            (*req).dl_next = null_mut();
            (*req).slh_parked = now();
            match NonNull::new(queue.tail) {
                Some(tail) => (*tail.as_ptr()).dl_next = req,
                None => queue.head = req,
            }
            queue.tail = req;
            self.depth.fetch_add(1, Ordering::Relaxed);
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
            // An open queue has its owner's head (set with `open` under this lock), which is
            // not collected while the queue points to it.
            if let Some(waiter) = queue.waiter.as_ref() {
                bindings::__wake_up(waiter.wait.get(), TASK_INTERRUPTIBLE, 1, POLL_IN_KEY);
                if !waiter.waited.load(Ordering::Acquire) {
                    // The socket is live: the enqueue hook runs for it, under its lock.
                    wake_all_socket_waiters(self.sk.load(Ordering::Relaxed));
                }
            }
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
            self.depth.fetch_sub(1, Ordering::Relaxed);
            Some(req)
        })?;
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
        Some(req)
    }
}

/// Wakes every task waiting on the socket's own wait queue (all of them: the one the wake-up
/// is for is among them, but which one is not known); only for an owner that never waited on
/// its own head (see [`ProcWait`]).
///
/// # Safety
///
/// `sk` is a live socket; the caller is in softirq or holds the RCU read lock otherwise.
unsafe fn wake_all_socket_waiters(sk: *mut bindings::sock) {
    // SAFETY: `sk_wq` is RCU-protected (freed after a grace period when the socket goes);
    // the read section keeps it, and its wait head, valid.
    unsafe {
        bindings::rcu_read_lock();
        let wq = core::ptr::read_volatile(addr_of!((*sk).__bindgen_anon_1.sk_wq));
        if !wq.is_null() {
            bindings::__wake_up(addr_of_mut!((*wq).wait), TASK_INTERRUPTIBLE, 0, POLL_IN_KEY);
        }
        bindings::rcu_read_unlock();
    }
}

/// Buckets of a listener's [`ProcWaits`], by thread-group pid.
const PROC_BUCKETS: usize = 64;

/// Whether the thread group of `pid` has exited: no task left, or no live thread in it. The
/// pid's `wait_pidfd` is woken for other reasons too (a thread's exit, a reaped task).
///
/// # Safety
///
/// `pid` is a pid the caller holds a reference to.
unsafe fn group_exited(pid: *mut bindings::pid) -> bool {
    // SAFETY: `pid_task` needs the RCU read lock, which also keeps the leader task and its
    // `signal` (freed with the last task, after a grace period) valid while we look.
    unsafe {
        bindings::rcu_read_lock();
        let leader = bindings::pid_task(pid, bindings::pid_type_PIDTYPE_TGID);
        let exited = leader.is_null()
            || core::ptr::read_volatile(addr_of!((*(*leader).signal).live.counter)) == 0;
        bindings::rcu_read_unlock();
        exited
    }
}

/// The wait head of one process (thread group) on one listener. Every thread of the process
/// waits for the listener's connections here (blocking `accept()`, poll, select, epoll); a
/// connection parked for the process wakes this head and no other.
pub struct ProcWait {
    /// The thread-group pid (a counted reference).
    pid: *mut bindings::pid,
    wait: Opaque<bindings::wait_queue_head>,
    /// The queue the process owns, as `index + 1`; 0 for none. Changed under the socket
    /// lock, by `open_slot` and `close_slot`.
    slot: AtomicU32,
    /// Whether the process ever waited here (a poll table's or epoll's entry, a blocking
    /// `accept()`). One that never did may be waiting elsewhere: an epoll entry added, or an
    /// `accept()` asleep, before the option was turned on sits on the socket's own wait
    /// queue only, and its parked connections wake that queue too.
    waited: AtomicBool,
    next: AtomicPtr<ProcWait>,
    rcu: Opaque<bindings::callback_head>,
}

/// The [`ProcWait`]s of a listener: lists by thread-group pid, read without a lock (under
/// RCU), extended and pruned under `lock`.
///
/// # Invariants
///
/// After `init`, `lock` is an initialised spinlock. Every node reachable from `buckets` is a
/// leaked `KBox<ProcWait>` whose `wait` is initialised and whose `pid` reference it owns; a
/// node is freed only after it was unlinked under `lock` and a grace period passed, and only
/// when no queue points to it, no entry is left on its head and its process has exited (so
/// that no task can add one), or by `free_all` when the socket is released.
struct ProcWaits {
    buckets: [AtomicPtr<ProcWait>; PROC_BUCKETS],
    lock: Opaque<bindings::spinlock_t>,
}

impl ProcWaits {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicPtr::new(null_mut()) }; PROC_BUCKETS],
            lock: Opaque::uninit(),
        }
    }

    /// # Safety
    ///
    /// Called once, at the value's final address, before any other method.
    unsafe fn init(&self) {
        // SAFETY: as per the function's requirements; the key is static.
        unsafe {
            bindings::__spin_lock_init(
                self.lock.get(),
                kernel::c_str!("sock_level_hash_procs").as_char_ptr(),
                PROCS_LOCK_CLASS.0.get(),
            )
        };
    }

    fn bucket(&self, pid: *const bindings::pid) -> &AtomicPtr<ProcWait> {
        // Pids come from a slab: the low bits carry nothing; mix the rest.
        let key = ((pid as usize) >> 6).wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as usize);
        &self.buckets[(key >> (usize::BITS - 6)) % PROC_BUCKETS]
    }

    /// The node of `pid`, if any.
    ///
    /// # Safety
    ///
    /// The caller holds the RCU read lock or `lock`.
    unsafe fn find(&self, pid: *const bindings::pid) -> Option<&ProcWait> {
        let mut node = self.bucket(pid).load(Ordering::Acquire);
        // SAFETY: nodes reachable from the buckets are live until a grace period after they
        // are unlinked (type invariant), which the caller's read section or lock excludes.
        while let Some(proc_wait) = unsafe { node.as_ref() } {
            if core::ptr::eq(proc_wait.pid, pid) {
                return Some(proc_wait);
            }
            node = proc_wait.next.load(Ordering::Acquire);
        }
        None
    }

    /// The calling process's node, if it has one.
    pub fn caller(&self) -> Option<&ProcWait> {
        // SAFETY: `current` is valid in process context; its tgid pid is only compared. The
        // node found stays valid after the read section: a node is freed only once its
        // process has exited, and the caller is a live task of that process.
        unsafe {
            let tgid = bindings::task_tgid(bindings::get_current());
            bindings::rcu_read_lock();
            let found = self.find(tgid);
            bindings::rcu_read_unlock();
            found
        }
    }

    /// The calling process's node, made if missing (process context, may sleep).
    pub fn caller_or_create(&self) -> Result<&ProcWait> {
        if let Some(found) = self.caller() {
            return Ok(found);
        }
        // SAFETY: `current` is valid; the counted reference goes to the node.
        let pid = unsafe {
            bindings::get_task_pid(bindings::get_current(), bindings::pid_type_PIDTYPE_TGID)
        };
        if pid.is_null() {
            return Err(ESRCH);
        }
        let node = match KBox::new(
            ProcWait {
                pid,
                wait: Opaque::uninit(),
                slot: AtomicU32::new(0),
                waited: AtomicBool::new(false),
                next: AtomicPtr::new(null_mut()),
                rcu: Opaque::uninit(),
            },
            GFP_KERNEL,
        ) {
            Ok(node) => KBox::into_raw(node),
            Err(e) => {
                // SAFETY: the reference taken above.
                unsafe { bindings::put_pid(pid) };
                return Err(e.into());
            }
        };
        // SAFETY: the node is our fresh allocation, at its final address, not yet published;
        // the lock is initialised (type invariant) and taken only in process context.
        unsafe {
            bindings::__init_waitqueue_head(
                (*node).wait.get(),
                kernel::c_str!("sock_level_hash_wait").as_char_ptr(),
                WAIT_LOCK_CLASS.0.get(),
            );
            bindings::spin_lock(self.lock.get());
        }
        // Another thread of the process may have made one meanwhile.
        // SAFETY: we hold `lock`.
        let found = match unsafe { self.find(pid) } {
            Some(found) => Some(found),
            None => {
                let bucket = self.bucket(pid);
                self.collect_locked(bucket);
                // SAFETY: the node is ours until published here, under `lock`.
                unsafe { (*node).next.store(bucket.load(Ordering::Relaxed), Ordering::Relaxed) };
                bucket.store(node, Ordering::Release);
                None
            }
        };
        // SAFETY: taken above.
        unsafe { bindings::spin_unlock(self.lock.get()) };
        match found {
            Some(found) => {
                // SAFETY: our node was never published.
                unsafe { free_proc_wait(node) };
                Ok(found)
            }
            // SAFETY: published, and ours to use as the caller's (see `caller`).
            None => Ok(unsafe { &*node }),
        }
    }

    /// Under `lock`: unlinks every node of `bucket` that nothing can use any more (no queue,
    /// no entry on its head, its process exited) and frees it after a grace period. Runs on
    /// the bucket a new node goes to, so each list stays about as long as the processes in
    /// it that use the listener, at a cost bounded by that list.
    fn collect_locked(&self, bucket: &AtomicPtr<ProcWait>) {
        {
            let mut link = bucket;
            loop {
                let node = link.load(Ordering::Relaxed);
                // SAFETY: linked nodes are live; we hold `lock`, so none is unlinked meanwhile.
                let Some(proc_wait) = (unsafe { node.as_ref() }) else {
                    break;
                };
                let idle = proc_wait.slot.load(Ordering::Acquire) == 0
                    // SAFETY: the node owns its pid reference.
                    && unsafe { group_exited(proc_wait.pid) }
                    && !proc_wait.has_waiters();
                if !idle {
                    link = &proc_wait.next;
                    continue;
                }
                link.store(proc_wait.next.load(Ordering::Relaxed), Ordering::Release);
                // SAFETY: unlinked: readers that still hold it are inside RCU read sections
                // (or softirq), which the callback waits for.
                unsafe { bindings::call_rcu(proc_wait.rcu.get(), Some(free_proc_wait_rcu)) };
            }
        }
    }

    /// Frees every node: the socket is being released, so nobody polls, accepts or parks.
    ///
    /// # Safety
    ///
    /// Called once, from `release_cb`, after every exit work was cancelled.
    unsafe fn free_all(&self) {
        for bucket in self.buckets.iter() {
            let mut node = bucket.swap(null_mut(), Ordering::Relaxed);
            while !node.is_null() {
                // SAFETY: as per the function's requirements nothing else holds the node.
                unsafe {
                    let next = (*node).next.load(Ordering::Relaxed);
                    free_proc_wait(node);
                    node = next;
                }
            }
        }
    }
}

impl ProcWait {
    /// Whether an entry (a poll table's, epoll's, a sleeping `accept()`'s) is on the head.
    fn has_waiters(&self) -> bool {
        let head = self.wait.get();
        // SAFETY: the head is initialised; its list is read under its lock.
        unsafe {
            let flags = bindings::spin_lock_irqsave(addr_of_mut!((*head).lock));
            let list = addr_of_mut!((*head).head);
            let busy = !core::ptr::eq((*list).next, list);
            bindings::spin_unlock_irqrestore(addr_of_mut!((*head).lock), flags);
            busy
        }
    }
}

/// Frees a node and drops its pid reference.
///
/// # Safety
///
/// `node` came from `KBox::into_raw` in `caller_or_create` and nothing can reach it any more.
unsafe fn free_proc_wait(node: *mut ProcWait) {
    // SAFETY: as per the function's requirements.
    unsafe {
        bindings::put_pid((*node).pid);
        drop(KBox::from_raw(node));
    }
}

unsafe extern "C" fn free_proc_wait_rcu(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` of a node unlinked by `collect_locked`, a grace period ago.
    unsafe { free_proc_wait(kernel::container_of!(head, ProcWait, rcu).cast_mut()) };
}

// SAFETY: the C members are designed for concurrent use; the rest are atomics and a counted
// pid reference, only compared and released.
unsafe impl Sync for ProcWait {}
// SAFETY: as above.
unsafe impl Send for ProcWait {}

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
        // hence no exit work; unregistering waits for option calls in flight, and the barrier
        // for the `ProcWait`s still queued with `call_rcu`, whose callback is our code.
        unsafe {
            bindings::sock_level_hash_unregister_ops(self.ops.get());
            bindings::rcu_barrier();
        }
    }
}

unsafe extern "C" fn setsockopt_cb<P: Policy>(
    sk: *mut bindings::sock,
    optname: c_int,
    val: *const c_void,
    len: c_uint,
) -> c_int {
    from_result(|| {
        let option = SockOpt::from_raw(optname).ok_or_else(enoprotoopt)?;
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: C copied the caller's value into a kernel buffer of `len` bytes (at most
        // `SOCK_LEVEL_HASH_OPTLEN_MAX`), valid for the call.
        let value = unsafe { core::slice::from_raw_parts(val.cast::<u8>(), len) };
        let sk = NonNull::new(sk).ok_or(EINVAL)?;
        let mut sock = Sock::<P> {
            // SAFETY: C calls us with the TCP socket locked.
            guard: unsafe { SockGuard::held(sk) },
            _policy: PhantomData,
        };
        P::setsockopt(&mut sock, option, value)?;
        Ok(0)
    })
}

unsafe extern "C" fn getsockopt_cb<P: Policy>(
    sk: *mut bindings::sock,
    optname: c_int,
    val: *mut c_void,
    len: c_uint,
) -> c_int {
    from_result(|| {
        let option = SockOpt::from_raw(optname).ok_or_else(enoprotoopt)?;
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: C hands us a zeroed kernel buffer of `len` bytes, valid for the call, which
        // it copies out after releasing the socket lock.
        let out = unsafe { core::slice::from_raw_parts_mut(val.cast::<u8>(), len) };
        let sk = NonNull::new(sk).ok_or(EINVAL)?;
        let mut sock = Sock::<P> {
            // SAFETY: C calls us with the TCP socket locked.
            guard: unsafe { SockGuard::held(sk) },
            _policy: PhantomData,
        };
        let written = P::getsockopt(&mut sock, option, out)?.min(len);
        c_int::try_from(written).map_err(|_| EINVAL)
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
    } else {
        let max_wait = listener.max_wait.load(Ordering::Relaxed);
        if max_wait != 0 {
            listener.arm_timer(now(), max_wait);
        }
    }
    parked
}

unsafe extern "C" fn dequeue_cb<P: Policy>(sk: *mut bindings::sock) -> *mut bindings::request_sock {
    // SAFETY: accept holds the socket lock and the file (see `listener`).
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return null_mut();
    };
    let Some(slot) = listener.caller_slot() else {
        return null_mut();
    };
    if slot.may_return(now()) {
        if let Some(sk) = NonNull::new(sk) {
            // SAFETY: accept holds the socket lock.
            let mut guard = unsafe { SockGuard::held(sk) };
            P::owner_back(listener, &mut guard, slot.index);
        }
    }
    slot.pop().map_or(null_mut(), |req| req.as_ptr())
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
    // SAFETY: as in `dequeue_cb`.
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return null_mut();
    };
    // A process without a queue waits on its head too: it may register while asleep (from
    // another thread), and its parked connections must wake it then. Without memory it
    // waits on the normal queue alone, as before it had a queue.
    // The head lives while a task of the process (the caller) can use it.
    listener.procs.caller_or_create().map_or(null_mut(), |proc_wait| {
        proc_wait.waited.store(true, Ordering::Release);
        proc_wait.wait.get()
    })
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
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return 0;
    };
    // SAFETY: `wait` is null or the caller's poll table.
    let adds_entry = !wait.is_null() && unsafe { (*wait)._qproc.is_some() };
    if adds_entry {
        // Whether or not the process owns a queue now: an epoll set adds its entry only
        // once, and the process may register (or move to another queue) later.
        if let Ok(proc_wait) = listener.procs.caller_or_create() {
            proc_wait.waited.store(true, Ordering::Release);
            // SAFETY: the head is not freed while an entry is on it (see `ProcWaits`).
            unsafe { bindings::poll_wait(file, proc_wait.wait.get(), wait) };
        }
    }
    let Some(slot) = listener.caller_slot() else {
        return 0;
    };
    if slot.depth() > 0 || slot.may_return(now()) {
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
    // longer reachable from the socket: no enqueue arms the timer any more, and a running
    // timer finds `closing` set. After the timer is shut down and every work cancelled (a
    // timer may queue one), nothing uses it.
    unsafe {
        bindings::timer_shutdown_sync((*state).timer.get());
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
        (*state).procs.free_all();
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
    slot.queue_work();
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
    // The owner's pid reference is held by the slot while it is the owner; the pid's wait
    // head is woken for other reasons than the group's exit too, which leave the owner be.
    // SAFETY: `exited` is the owner's pid, referenced by the slot.
    if !exited.is_null()
        && exited == slot.owner.load(Ordering::Acquire)
        && unsafe { group_exited(exited) }
    {
        P::owner_exited(listener, &mut guard, slot.index);
    }
    // The owner may have accepted since the timer asked (which resets the misses).
    if slot.standby_pending.swap(false, Ordering::AcqRel)
        && slot.has_owner()
        && !slot.on_standby()
        && bound::goes_on_standby(slot.misses.load(Ordering::Relaxed))
    {
        P::owner_lagging(listener, &mut guard, slot.index);
    }
}

/// The current time in jiffies, low 32 bits (see [`bound`]).
fn now() -> u32 {
    // SAFETY: `jiffies` is updated by the timer interrupt; a volatile read of an aligned word.
    (unsafe { core::ptr::read_volatile(addr_of!(bindings::jiffies)) }) as u32
}

unsafe extern "C" fn expire_cb<P: Policy>(timer: *mut bindings::timer_list) {
    // SAFETY: `timer` is the `timer` of a listener state (only `listener_or_create` sets this
    // function), which `release_cb` frees only after shutting the timer down.
    let listener = unsafe { &*kernel::container_of!(timer, Listener<P>, timer) };
    if let Some(next) = listener.expire() {
        listener.arm_timer(next, 0);
    }
}

/// The earlier of `at` and the time in `earlier` (jiffies, wrapping).
fn earliest(earlier: Option<u32>, at: u32) -> u32 {
    match earlier {
        Some(old) if (old.wrapping_sub(at) as i32) < 0 => old,
        _ => at,
    }
}
