// SPDX-License-Identifier: GPL-2.0
//! The wait head of each process on a listener, [`ProcWait`], and the listener's table of
//! them, [`ProcWaits`], read without a lock.
//!
//! A process waits (blocking `accept()`, poll, select, epoll) on a head of its own, found by
//! its thread-group pid, not on a queue's: the entry an epoll set adds once stays right
//! whether the process registers before or after, re-registers or leaves its queue. A head is
//! freed only when nothing can wait on it any more.

use core::{
    ptr::{addr_of, addr_of_mut, null_mut},
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering},
};
use kernel::{bindings, prelude::*, types::Opaque};

use super::lock_class::{PROCS_LOCK_CLASS, WAIT_LOCK_CLASS};

/// Buckets of a listener's [`ProcWaits`], by thread-group pid.
const PROC_BUCKETS: usize = 64;

/// Whether the thread group of `pid` has exited: no task left, or no live thread in it. The
/// pid's `wait_pidfd` is woken for other reasons too (a thread's exit, a reaped task).
///
/// # Safety
///
/// `pid` is a pid the caller holds a reference to.
pub(super) unsafe fn group_exited(pid: *mut bindings::pid) -> bool {
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
pub(super) struct ProcWait {
    /// The thread-group pid (a counted reference).
    pid: *mut bindings::pid,
    pub(super) wait: Opaque<bindings::wait_queue_head>,
    /// The queue the process owns, as `index + 1`; 0 for none. Changed under the socket
    /// lock, by `open_queue` and `close_queue`.
    pub(super) queue: AtomicU32,
    /// Whether the process ever waited here (a poll table's or epoll's entry, a blocking
    /// `accept()`). One that never did may be waiting elsewhere: an epoll entry added, or an
    /// `accept()` asleep, before the option was turned on sits on the socket's own wait
    /// queue only, and its parked connections wake that queue too.
    pub(super) waited: AtomicBool,
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
pub(super) struct ProcWaits {
    buckets: [AtomicPtr<ProcWait>; PROC_BUCKETS],
    lock: Opaque<bindings::spinlock_t>,
}

impl ProcWaits {
    pub(super) const fn new() -> Self {
        Self {
            buckets: [const { AtomicPtr::new(null_mut()) }; PROC_BUCKETS],
            lock: Opaque::uninit(),
        }
    }

    /// # Safety
    ///
    /// Called once, at the value's final address, before any other method.
    pub(super) unsafe fn init(&self) {
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
    pub(super) fn caller(&self) -> Option<&ProcWait> {
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
    pub(super) fn caller_or_create(&self) -> Result<&ProcWait> {
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
                queue: AtomicU32::new(0),
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
                unsafe {
                    (*node)
                        .next
                        .store(bucket.load(Ordering::Relaxed), Ordering::Relaxed)
                };
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
                let idle = proc_wait.queue.load(Ordering::Acquire) == 0
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
    pub(super) unsafe fn free_all(&self) {
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
