// SPDX-License-Identifier: GPL-2.0
//! One priority queue, [`Queue`]: a FIFO of parked connections (`request_sock`s linked
//! through `dl_next`), its owner, the watch on the owner's exit and the queue's counters
//! ([`QueueStats`]).
//!
//! Each queue has a spinlock of its own: parking and taking one process's connections never
//! touch another's, so the workers of a server share no new lock.

use core::{
    cell::UnsafeCell,
    ffi::{c_int, c_uint, c_void},
    ptr::{addr_of, addr_of_mut, null_mut, NonNull},
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering},
};
use kernel::{bindings, types::Opaque};

use super::listener::Listener;
use super::lock_class::{QUEUE_LOCK_CLASS, WORK_LOCK_CLASS};
use super::ops::{owner_exit_wake, owner_exit_work};
use super::policy::Policy;
use super::proc_wait::ProcWait;
use super::time::now;
use crate::bound;

pub(super) const EPOLLIN: u32 = 0x1;
pub(super) const EPOLLRDNORM: u32 = 0x40;
/// The key of a wake-up for readable data (C's `poll_to_key(EPOLLIN | EPOLLRDNORM)`).
const POLL_IN_KEY: *mut c_void = (EPOLLIN | EPOLLRDNORM) as usize as *mut c_void;
const TASK_INTERRUPTIBLE: c_uint = 1;

/// The completed connections parked in a priority queue (`request_sock`s whose `sk` is the
/// child), first in, first out.
pub(super) struct ReqFifo {
    pub(super) head: *mut bindings::request_sock,
    pub(super) tail: *mut bindings::request_sock,
    /// Whether the queue has an owner that accepts from it: parking is refused otherwise.
    pub(super) open: bool,
    /// The owner's wait head, woken for each parked connection (null without an owner).
    pub(super) waiter: *const ProcWait,
}

impl ReqFifo {
    pub(super) fn take_all(&mut self) -> ReqIter {
        let head = self.head;
        self.head = null_mut();
        self.tail = null_mut();
        ReqIter(head)
    }
}

/// Connections taken off a queue, linked through `dl_next`.
pub(super) struct ReqIter(*mut bindings::request_sock);

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
pub(crate) struct QueueStats {
    /// Connections parked here.
    pub(crate) queued: AtomicU64,
    /// Connections accepted from here.
    pub(crate) accepted: AtomicU64,
    /// Connections moved away when the owner left.
    pub(crate) moved: AtomicU64,
    /// Times the owner's blocking `accept()` woke up.
    pub(crate) wakeups: AtomicU64,
    /// Connections sent to the normal queue after waiting out the bounded wait.
    pub(crate) expired: AtomicU64,
    /// Connections sent to the normal queue because the queue held its share.
    pub(crate) overflowed: AtomicU64,
    /// Times the owner went on standby.
    pub(crate) demotions: AtomicU64,
    /// Times it came back.
    pub(crate) promotions: AtomicU64,
}

/// One priority queue: a FIFO of parked connections, its owner (whose [`ProcWait`] is woken
/// for each) and the watch on the owner's exit.
///
/// # Invariants
///
/// After `init`, `lock`, `watch` and `work` are initialised C objects that never move (the
/// queue lives in a heap chunk until the listener is freed); `fifo` is accessed only under
/// `lock`.
pub(crate) struct Queue {
    pub(super) index: usize,
    lock: Opaque<bindings::spinlock_t>,
    fifo: UnsafeCell<ReqFifo>,
    pub(super) depth: AtomicU32,
    /// The owner's thread-group pid (a counted reference), null when free.
    pub(super) owner: AtomicPtr<bindings::pid>,
    /// Set by the exit callback: the pid whose exit the work must handle.
    pub(super) exited: AtomicPtr<bindings::pid>,
    pub(super) watch: Opaque<bindings::wait_queue_entry>,
    pub(super) work: Opaque<bindings::work_struct>,
    /// Connections in a row that waited out the bounded wait since the owner last accepted.
    pub(super) misses: AtomicU32,
    /// The owner is on standby: registered, without buckets.
    pub(super) standby: AtomicBool,
    /// Set by the expiry timer: the work must put the owner on standby.
    pub(super) standby_pending: AtomicBool,
    /// When the owner went on standby, and for how long at least (jiffies, see
    /// [`bound::standby_hold`]); written before `standby` is set.
    pub(super) standby_since: AtomicU32,
    pub(super) standby_hold: AtomicU32,
    /// The owner's relapses (see [`bound::relapses_after_demotion`]) and when it last came
    /// back from standby (valid if `returned`); written under the socket lock.
    pub(super) relapses: AtomicU32,
    pub(super) returned_at: AtomicU32,
    pub(super) returned: AtomicBool,
    pub(super) listener: AtomicPtr<c_void>,
    /// The listener's socket (set by `init`).
    sk: AtomicPtr<bindings::sock>,
    /// The queue's counters.
    pub(crate) stats: QueueStats,
}

// SAFETY: the C members are designed for concurrent use; `fifo` is guarded by the queue's
// lock (type invariant); the rest are atomics.
unsafe impl Sync for Queue {}
// SAFETY: as above.
unsafe impl Send for Queue {}

impl Queue {
    pub(super) fn new(index: usize) -> Self {
        Self {
            index,
            lock: Opaque::uninit(),
            fifo: UnsafeCell::new(ReqFifo {
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
            stats: QueueStats::default(),
        }
    }

    /// Initialises the C members in place.
    ///
    /// # Safety
    ///
    /// Called once, on a queue at its final address, before it is published.
    pub(super) unsafe fn init<P: Policy>(&self, listener: &Listener<P>) {
        self.listener.store(
            (listener as *const Listener<P>).cast_mut().cast(),
            Ordering::Relaxed,
        );
        self.sk.store(listener.sk, Ordering::Relaxed);
        // SAFETY: the members are at their final addresses (function's requirements); the
        // keys are static.
        unsafe {
            bindings::__spin_lock_init(
                self.lock.get(),
                kernel::c_str!("sock_level_hash_queue").as_char_ptr(),
                QUEUE_LOCK_CLASS.0.get(),
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
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The owner's pid as seen from the caller's pid namespace, 0 when free.
    pub(crate) fn owner_pid(&self) -> i32 {
        let pid = self.owner.load(Ordering::Acquire);
        if pid.is_null() {
            return 0;
        }
        // SAFETY: callers hold the socket lock, under which the owner's reference is only
        // dropped by `close_queue`; `pid_vnr` reads it.
        unsafe { bindings::pid_vnr(pid) }
    }

    /// Whether a process owns the queue.
    pub(crate) fn has_owner(&self) -> bool {
        !self.owner.load(Ordering::Acquire).is_null()
    }

    /// Connections waiting now.
    pub(crate) fn depth(&self) -> u32 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Whether the owner is on standby (see [`Listener::set_standby`]).
    pub(crate) fn on_standby(&self) -> bool {
        self.standby.load(Ordering::Acquire)
    }

    /// Whether the owner is on standby and its hold has passed at `now`: its next `accept()`
    /// takes it off.
    pub(super) fn may_return(&self, now: u32) -> bool {
        self.on_standby()
            && bound::may_return(
                self.standby_since.load(Ordering::Relaxed),
                self.standby_hold.load(Ordering::Relaxed),
                now,
            )
    }

    /// Schedules the queue's work (owner exit, standby), from any context.
    pub(super) fn queue_work(&self) {
        // SAFETY: the work is initialised; `system_wq` exists from boot; queueing does not
        // sleep. `release_cb` cancels it before the queue is freed.
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                bindings::system_wq,
                self.work.get(),
            )
        };
    }

    /// Wakes the owner's wait head (its poll and blocking accept), if it has one.
    pub(super) fn wake_owner(&self) {
        self.with_lock(|fifo| {
            // SAFETY: an open queue's waiter is not collected while the queue points to it.
            if let Some(waiter) = unsafe { fifo.waiter.as_ref() } {
                // SAFETY: the head is initialised and lives as long as the `ProcWait`.
                unsafe {
                    bindings::__wake_up(waiter.wait.get(), TASK_INTERRUPTIBLE, 1, POLL_IN_KEY)
                };
                if !waiter.waited.load(Ordering::Acquire) {
                    // As in `park`: an owner that never waited on its head (an epoll entry
                    // from before the option) waits on the socket's queue.
                    // SAFETY: the socket outlives its state, which owns this queue.
                    unsafe { wake_all_socket_waiters(self.sk.load(Ordering::Relaxed)) };
                }
            }
        });
    }

    pub(super) fn with_lock<R>(&self, f: impl FnOnce(&mut ReqFifo) -> R) -> R {
        // SAFETY: the lock is initialised (type invariant) and guards `fifo`.
        let flags = unsafe { bindings::spin_lock_irqsave(self.lock.get()) };
        // SAFETY: we hold the lock that guards `fifo`.
        let result = f(unsafe { &mut *self.fifo.get() });
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
    pub(super) unsafe fn park(&self, req: *mut bindings::request_sock) -> bool {
        // SAFETY: we hold the queue's lock inside `with_lock`; `req` is ours to link.
        self.with_lock(|fifo| unsafe {
            if !fifo.open || self.standby.load(Ordering::Relaxed) {
                return false;
            }
            (*req).dl_next = null_mut();
            (*req).slh_parked = now();
            match NonNull::new(fifo.tail) {
                Some(tail) => (*tail.as_ptr()).dl_next = req,
                None => fifo.head = req,
            }
            fifo.tail = req;
            self.depth.fetch_add(1, Ordering::Relaxed);
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
            // An open queue has its owner's head (set with `open` under this lock), which is
            // not collected while the queue points to it.
            if let Some(waiter) = fifo.waiter.as_ref() {
                bindings::__wake_up(waiter.wait.get(), TASK_INTERRUPTIBLE, 1, POLL_IN_KEY);
                if !waiter.waited.load(Ordering::Acquire) {
                    // The socket is live: the enqueue hook runs for it, under its lock.
                    wake_all_socket_waiters(self.sk.load(Ordering::Relaxed));
                }
            }
            true
        })
    }

    pub(super) fn pop(&self) -> Option<NonNull<bindings::request_sock>> {
        let req = self.with_lock(|fifo| {
            let req = NonNull::new(fifo.head)?;
            // SAFETY: linked requests are ours under the lock.
            fifo.head = unsafe { (*req.as_ptr()).dl_next };
            if fifo.head.is_null() {
                fifo.tail = null_mut();
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
