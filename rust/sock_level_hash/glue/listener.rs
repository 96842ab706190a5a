// SPDX-License-Identifier: GPL-2.0
//! The state of one listen socket with the option, [`Listener`]: its priority queues, the
//! wait heads of the processes that use it, the normal queue's counters, the bounded wait and
//! its expiry timer, and the policy's data.
//!
//! It is what the policy acts on: under the socket lock it opens and closes queues, puts
//! owners on standby and moves parked connections; from softirq its timer moves the
//! connections that waited out the bounded wait to the normal queue.

use core::{
    ptr::{addr_of, addr_of_mut, null_mut, NonNull},
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering},
};
use kernel::{bindings, init::init_array_from_fn, prelude::*, types::Opaque};

use super::policy::Policy;
use super::proc_wait::ProcWaits;
use super::queue::Queue;
use super::sock::{SockGuard, TCP_LISTEN};
use super::time::{earliest, now};
use crate::bound;
use crate::table::MAX_QUEUES;

/// Queues per allocation: small chunks, so that a listener with few queues stays small.
const CHUNK: usize = 8;
pub(super) const MAX_CHUNKS: usize = MAX_QUEUES / CHUNK;
// The chunks cover every queue the core's table may name.
const _: () = assert!(MAX_QUEUES % CHUNK == 0);
// The limit is the uapi's; the core, which the host also builds, mirrors it.
const _: () = assert!(MAX_QUEUES == bindings::SOCK_LEVEL_HASH_MAX_QUEUES as usize);

/// The state of one listen socket with the option: its priority queues and the policy's data.
///
/// # Invariants
///
/// `sk` points to the socket whose `icsk_accept_queue.slh` points here; chunks are allocated
/// under the socket lock, published once and freed only by `release_cb`.
pub(crate) struct Listener<P: Policy> {
    pub(super) sk: *mut bindings::sock,
    pub(super) chunks: [AtomicPtr<[Queue; CHUNK]>; MAX_CHUNKS],
    pub(super) procs: ProcWaits,
    pub(super) closing: AtomicBool,
    pub(super) normal_queued: AtomicU64,
    pub(super) normal_accepted: AtomicU64,
    /// The bounded wait in jiffies; 0: strict, nothing expires.
    pub(super) max_wait: AtomicU32,
    /// Fires when the oldest parked connection reaches the bounded wait (armed while any is
    /// parked); it moves every expired connection to the normal queue.
    pub(super) timer: Opaque<bindings::timer_list>,
    pub(super) data: KBox<P::Data>,
}

// SAFETY: the raw socket pointer is only dereferenced under the rules described on each use;
// everything else is atomics, queues (see `Queue`) and `P::Data: Send + Sync`.
unsafe impl<P: Policy> Send for Listener<P> {}
// SAFETY: as above.
unsafe impl<P: Policy> Sync for Listener<P> {}

impl<P: Policy> Listener<P> {
    /// The state of TCP socket `sk`, if any.
    ///
    /// # Safety
    ///
    /// `sk` is a live TCP socket whose state, if any, is not freed during `'a`.
    pub(super) unsafe fn of<'a>(sk: *mut bindings::sock) -> Option<&'a Self> {
        // SAFETY: a TCP socket is an `inet_connection_sock`; see the function's requirements.
        unsafe {
            let queue = addr_of!((*sk.cast::<bindings::inet_connection_sock>()).icsk_accept_queue);
            let state = core::ptr::read_volatile(addr_of!((*queue).slh));
            state.cast::<Self>().as_ref()
        }
    }

    /// The policy's data.
    pub(crate) fn data(&self) -> &P::Data {
        &self.data
    }

    /// Queue `index`, if allocated.
    pub(crate) fn queue(&self, index: usize) -> Option<&Queue> {
        let chunk = self.chunks.get(index / CHUNK)?.load(Ordering::Acquire);
        // SAFETY: a published chunk stays allocated until `release_cb` frees the listener.
        let chunk = unsafe { chunk.as_ref() }?;
        chunk.get(index % CHUNK)
    }

    /// Makes sure queues `0..count` exist (socket locked; they are never freed before close).
    pub(crate) fn ensure_queues(&self, _guard: &mut SockGuard<'_>, count: usize) -> Result {
        if count > MAX_QUEUES {
            return Err(EINVAL);
        }
        for chunk_index in 0..count.div_ceil(CHUNK) {
            let entry = &self.chunks[chunk_index];
            if !entry.load(Ordering::Acquire).is_null() {
                continue;
            }
            // Built in place, one queue at a time: the chunk never passes through the stack.
            let chunk = KBox::init::<core::convert::Infallible>(
                init_array_from_fn(|i| Queue::new(chunk_index * CHUNK + i)),
                GFP_KERNEL,
            )?;
            let chunk = KBox::into_raw(chunk);
            // SAFETY: the chunk is our fresh allocation and never moves again; its C members
            // are initialised in place before anybody can see it.
            unsafe {
                for queue in (*chunk).iter() {
                    queue.init::<P>(self);
                }
            }
            entry.store(chunk, Ordering::Release);
        }
        Ok(())
    }

    /// The queue owned by the calling process (thread group), if any: one look-up of the
    /// process's [`ProcWait`](super::proc_wait::ProcWait), no scan of the queues.
    pub(crate) fn caller_queue(&self) -> Option<&Queue> {
        let index = self.procs.caller()?.queue.load(Ordering::Acquire);
        self.queue(index.checked_sub(1)? as usize)
    }

    /// Connections that went to the normal queue / were accepted from it.
    pub(crate) fn normal_counts(&self) -> (u64, u64) {
        (
            self.normal_queued.load(Ordering::Relaxed),
            self.normal_accepted.load(Ordering::Relaxed),
        )
    }

    /// Sets the bounded wait (0: strict). Connections already parked are judged by the new
    /// value from the next expiry check on.
    pub(crate) fn set_max_wait(&self, _guard: &mut SockGuard<'_>, max_wait_ms: u32) {
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
            let Some(queue) = self.queue(index) else {
                break;
            };
            if queue.on_standby() {
                queue.standby_hold.store(0, Ordering::Relaxed);
                queue.wake_owner();
            }
        }
    }

    /// Whether parked connections have a bounded wait (the mode is not strict).
    pub(crate) fn bounded(&self) -> bool {
        self.max_wait.load(Ordering::Relaxed) != 0
    }

    /// The listen backlog (`listen()`'s argument, capped by `somaxconn`).
    pub(crate) fn max_backlog(&self) -> u32 {
        // SAFETY: the socket outlives its state; the field is read without a lock, as the
        // stock accept-queue-full check does.
        unsafe { core::ptr::read_volatile(addr_of!((*self.sk).sk_max_ack_backlog)) }
    }

    /// Arms the expiry timer to fire at `from + max_wait` unless it fires earlier already;
    /// lockless and cheap when it does.
    pub(super) fn arm_timer(&self, from: u32, max_wait: u32) {
        let at = bound::deadline(from, max_wait);
        // SAFETY: the timer is initialised (`listener_or_create`) and shut down only when the
        // state goes. `jiffies` is read whole (a `long`); `at` is within half the 32-bit range
        // of its low bits, so widening the difference gives the full expiry.
        unsafe {
            let jiffies = core::ptr::read_volatile(addr_of!(bindings::jiffies));
            let ahead = at.wrapping_sub(jiffies as u32) as i32;
            bindings::timer_reduce(
                self.timer.get(),
                jiffies.wrapping_add(ahead as isize as usize),
            );
        }
    }

    /// Puts the owner of queue `index` on standby (`on`) or takes it off (socket locked),
    /// after the policy moved its buckets. Going on standby, its parked connections go to the
    /// normal queue (they already waited part of the bound) and it is held there for
    /// [`bound::standby_hold`]; when the hold has passed its process is woken and poll reports
    /// the listener readable, so that an event loop calls `accept()`, which takes it off
    /// ([`Policy::owner_back`]).
    pub(crate) fn set_standby(&self, _guard: &mut SockGuard<'_>, index: usize, on: bool) {
        let Some(queue) = self.queue(index) else {
            return;
        };
        queue.misses.store(0, Ordering::Relaxed);
        let now = now();
        if !on {
            if queue.standby.swap(false, Ordering::AcqRel) {
                queue.stats.promotions.fetch_add(1, Ordering::Relaxed);
                queue.returned_at.store(now, Ordering::Relaxed);
                queue.returned.store(true, Ordering::Relaxed);
            }
            return;
        }
        if queue.on_standby() {
            return;
        }
        // A slow but live owner would come back at its next accept() and fall behind at once:
        // it stays on standby for a hold that doubles with each relapse.
        let max_wait = self.max_wait.load(Ordering::Relaxed);
        let returned = queue
            .returned
            .load(Ordering::Relaxed)
            .then(|| queue.returned_at.load(Ordering::Relaxed));
        let relapses = bound::relapses_after_demotion(
            queue.relapses.load(Ordering::Relaxed),
            returned,
            now,
            max_wait,
        );
        queue.relapses.store(relapses, Ordering::Relaxed);
        let hold = bound::standby_hold(max_wait, relapses);
        queue.standby_since.store(now, Ordering::Relaxed);
        queue.standby_hold.store(hold, Ordering::Relaxed);
        // Set under the queue's lock, as `park` reads it: nothing parks here after the take,
        // even from an enqueue that read the routing before the policy republished it.
        let parked = queue.with_lock(|fifo| {
            if queue.standby.swap(true, Ordering::AcqRel) {
                return None;
            }
            queue.depth.store(0, Ordering::Relaxed);
            Some(fifo.take_all())
        });
        let Some(parked) = parked else {
            return;
        };
        // The hold's end wakes the owner (`expire`, which looks only at owners on standby):
        // poll reports it readable only then.
        self.arm_timer(now, hold);
        queue.stats.demotions.fetch_add(1, Ordering::Relaxed);
        let mut moved = 0;
        for req in parked {
            // The rest already waited part of the bound: the normal queue takes them now
            // (parked again elsewhere they would start a new wait).
            // SAFETY: as in `close_queue`; with `park == false` C links it to the normal queue.
            unsafe { bindings::sock_level_hash_requeue(self.sk, req.as_ptr(), false) };
            moved += 1;
        }
        self.normal_queued.fetch_add(moved, Ordering::Relaxed);
        queue.stats.moved.fetch_add(moved, Ordering::Relaxed);
        queue.wake_owner();
    }

    /// Moves every connection that waited out the bounded wait to the normal queue (timer,
    /// softirq); marks owners that keep missing it for standby; wakes owners whose standby
    /// hold has passed. Returns when it must run next: the oldest remaining connection's
    /// expiry or the end of a hold, whichever comes first.
    pub(super) fn expire(&self) -> Option<u32> {
        let max_wait = self.max_wait.load(Ordering::Relaxed);
        if max_wait == 0 {
            return None;
        }
        let sk = self.sk;
        // SAFETY: the socket outlives its state (`release_cb` shuts the timer down first); a
        // TCP socket is an `inet_connection_sock`.
        let rskq_lock = unsafe {
            addr_of_mut!(
                (*sk.cast::<bindings::inet_connection_sock>())
                    .icsk_accept_queue
                    .rskq_lock
            )
        };
        let mut spilled = 0u32;
        let mut next: Option<u32> = None;
        // SAFETY: `rskq_lock` is initialised; under it the normal queue may be linked.
        unsafe { bindings::spin_lock_bh(rskq_lock) };
        // The state changes without `rskq_lock`, but `listen_stop_cb` takes the lock after the
        // change, before it empties the queues: what we spill while we still see the listening
        // state reaches the normal queue before that is disposed of.
        // SAFETY: the socket is live (see above); a byte read.
        let listening = unsafe { core::ptr::read_volatile(addr_of!((*sk).__sk_common.skc_state)) }
            == TCP_LISTEN;
        if listening && !self.closing.load(Ordering::Acquire) {
            let now = now();
            for index in 0..MAX_QUEUES {
                let Some(queue) = self.queue(index) else {
                    break;
                };
                if queue.on_standby() {
                    if queue.may_return(now) {
                        queue.wake_owner();
                    } else {
                        let end = bound::deadline(
                            queue.standby_since.load(Ordering::Relaxed),
                            queue.standby_hold.load(Ordering::Relaxed),
                        );
                        next = Some(earliest(next, end));
                    }
                }
                if queue.depth() == 0 {
                    continue;
                }
                let (expired, head) = queue.with_lock(|fifo| {
                    let mut expired = 0u32;
                    while let Some(req) = NonNull::new(fifo.head) {
                        // SAFETY: linked requests are ours under the queue's lock; `rskq_lock`
                        // is held for linking them to the normal queue.
                        unsafe {
                            let parked = (*req.as_ptr()).slh_parked;
                            if !bound::expired(parked, now, max_wait) {
                                return (expired, Some(parked));
                            }
                            fifo.head = (*req.as_ptr()).dl_next;
                            if fifo.head.is_null() {
                                fifo.tail = null_mut();
                            }
                            bindings::sock_level_hash_spill_locked(sk, req.as_ptr());
                        }
                        queue.depth.fetch_sub(1, Ordering::Relaxed);
                        expired += 1;
                    }
                    (expired, None)
                });
                if expired > 0 {
                    queue
                        .stats
                        .expired
                        .fetch_add(u64::from(expired), Ordering::Relaxed);
                    spilled += expired;
                    let misses = queue.misses.fetch_add(expired, Ordering::Relaxed) + expired;
                    if bound::goes_on_standby(misses) && !queue.standby.load(Ordering::Relaxed) {
                        queue.standby_pending.store(true, Ordering::Release);
                        queue.queue_work();
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
            self.normal_queued
                .fetch_add(u64::from(spilled), Ordering::Relaxed);
            // SAFETY: the socket is live (see above); process or softirq context.
            unsafe { bindings::sock_level_hash_wake_normal(sk, spilled) };
        }
        next
    }

    /// Gives queue `index` to the calling process: connections can be parked there from now
    /// on, and the process's exit is watched (socket locked).
    pub(crate) fn open_queue(&self, _guard: &mut SockGuard<'_>, index: usize) -> Result {
        let queue = self.queue(index).ok_or(EINVAL)?;
        if !queue.owner.load(Ordering::Acquire).is_null() {
            return Err(EBUSY);
        }
        let proc_wait = self.procs.caller_or_create()?;
        // SAFETY: `current` is valid; `get_task_pid` returns a counted reference, which the
        // queue keeps until `close_queue`.
        let pid = unsafe {
            bindings::get_task_pid(bindings::get_current(), bindings::pid_type_PIDTYPE_TGID)
        };
        if pid.is_null() {
            return Err(ESRCH);
        }
        queue.owner.store(pid, Ordering::Release);
        // SAFETY: the entry is initialised (`Queue::init`) and not queued anywhere (the queue
        // had no owner); the pid stays alive while we hold its reference. Its wait head is
        // woken when the thread group exits (as pidfd poll uses).
        unsafe { bindings::add_wait_queue(addr_of_mut!((*pid).wait_pidfd), queue.watch.get()) };
        proc_wait.queue.store(index as u32 + 1, Ordering::Release);
        queue.with_lock(|fifo| {
            fifo.open = true;
            fifo.waiter = proc_wait;
        });
        Ok(())
    }

    /// Takes queue `index` away from its owner (socket locked): stops watching the process,
    /// and moves the connections parked there to where [`Policy::route`] sends them now (call
    /// after updating the routing) or, with `park == false`, to the normal queue. Returns how
    /// many moved.
    pub(crate) fn close_queue(&self, guard: &mut SockGuard<'_>, index: usize, park: bool) -> usize {
        let Some(queue) = self.queue(index) else {
            return 0;
        };
        let pid = queue.owner.load(Ordering::Acquire);
        if !pid.is_null() {
            // SAFETY: the entry was added to this pid's wait head by `open_queue` and we still
            // hold the pid. After removal the wake function cannot run any more, so clearing
            // `exited` afterwards cannot race with it.
            unsafe {
                bindings::remove_wait_queue(addr_of_mut!((*pid).wait_pidfd), queue.watch.get())
            };
            queue.exited.store(null_mut(), Ordering::Release);
            queue.owner.store(null_mut(), Ordering::Release);
            // SAFETY: the reference taken in `open_queue`.
            unsafe { bindings::put_pid(pid) };
        }
        queue.standby.store(false, Ordering::Relaxed);
        queue.standby_pending.store(false, Ordering::Relaxed);
        queue.misses.store(0, Ordering::Relaxed);
        // The next owner starts without relapses.
        queue.relapses.store(0, Ordering::Relaxed);
        queue.returned.store(false, Ordering::Relaxed);
        let parked = queue.with_lock(|fifo| {
            fifo.open = false;
            // SAFETY: a `ProcWait` lives until the listener is freed or collected, and one
            // that a queue points to is never collected.
            if let Some(proc_wait) = unsafe { fifo.waiter.as_ref() } {
                proc_wait.queue.store(0, Ordering::Release);
            }
            fifo.waiter = null_mut();
            queue.depth.store(0, Ordering::Relaxed);
            fifo.take_all()
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
        queue.stats.moved.fetch_add(moved, Ordering::Relaxed);
        moved as usize
    }

    /// Every connection parked anywhere goes to the normal queue (the listener stopped
    /// listening; the caller disposes of the normal queue). Owners stay registered.
    pub(super) fn unpark_all(&self, _guard: &mut SockGuard<'_>) {
        for index in 0..MAX_QUEUES {
            let Some(queue) = self.queue(index) else {
                break;
            };
            let parked = queue.with_lock(|fifo| {
                queue.depth.store(0, Ordering::Relaxed);
                fifo.take_all()
            });
            for req in parked {
                // SAFETY: as in `close_queue`; with `park == false` C links it to the normal
                // queue.
                unsafe { bindings::sock_level_hash_requeue(self.sk, req.as_ptr(), false) };
            }
        }
    }
}
