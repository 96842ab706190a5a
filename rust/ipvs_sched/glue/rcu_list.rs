// SPDX-License-Identifier: GPL-2.0
//! A list read under RCU and written under a service's `sched_lock` (C's `_rcu` list
//! primitives), and the proofs that a reader may walk it ([`ReadSide`]).

use core::{
    marker::PhantomData,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{bindings, prelude::*, types::Opaque};

use super::{Packet, SchedGuard, Service};

/// Proof that RCU-protected data cannot be freed under the holder: the RCU read-side section
/// of the packet being scheduled ([`Packet`]), which covers every list, or a service's
/// `sched_lock` ([`SchedGuard`]), which covers the lists whose writers take that lock.
///
/// Sealed: only the glue's proofs implement it, since [`RcuList::iter`] trusts them.
pub trait ReadSide: read_side::Sealed {}
impl ReadSide for Packet {}
impl<T> ReadSide for SchedGuard<'_, T> {}

mod read_side {
    use super::{bindings, Packet, SchedGuard};

    /// The private half of [`super::ReadSide`].
    pub trait Sealed {
        /// Whether the proof keeps the entries of a list written under `lock` alive.
        fn covers(&self, lock: *const bindings::spinlock_t) -> bool;
    }

    impl Sealed for Packet {
        fn covers(&self, _lock: *const bindings::spinlock_t) -> bool {
            true
        }
    }

    impl<T> Sealed for SchedGuard<'_, T> {
        fn covers(&self, lock: *const bindings::spinlock_t) -> bool {
            core::ptr::eq(self.locked.lock, lock)
        }
    }
}

/// A singly linked list read under RCU and written under the service's `sched_lock`: what
/// C's schedulers build from `hlist_head`/`list_head` with the `_rcu` list primitives.
/// Readers walk it with [`RcuList::iter`] while writers add and remove entries; a removed
/// entry is dropped one grace period later (`call_rcu`), so a reader that reached it can
/// still use it until its read-side section ends.
///
/// Each list is bound to the `sched_lock` of the service it was made for: its writers and its
/// readers that hold no RCU read lock must hold that lock, which is checked as
/// `kernel::sync::LockedBy` checks its owner (a mismatch is a bug of the caller, and panics).
///
/// # Invariants
///
/// `head` and every node's `next` are null or point to a node made by [`RcuList::push_front`]
/// (a leaked `KBox`) that is reachable only from this list. Writers of one list are serialised
/// by `lock`, the `sched_lock` of one service.
pub struct RcuList<T> {
    head: AtomicPtr<RcuNode<T>>,
    lock: *const bindings::spinlock_t,
}

struct RcuNode<T> {
    next: AtomicPtr<RcuNode<T>>,
    rcu: Opaque<bindings::callback_head>,
    value: T,
}

// SAFETY: values are shared between CPUs (readers) and dropped on any CPU; `lock` is only
// compared, never dereferenced.
unsafe impl<T: Send + Sync> Send for RcuList<T> {}
// SAFETY: as above; writers are serialised by `sched_lock` (checked), readers only get `&T`.
unsafe impl<T: Send + Sync> Sync for RcuList<T> {}

impl<T> RcuList<T> {
    /// An empty list of `svc`'s state, written under its `sched_lock`.
    pub fn new(svc: &Service) -> Self {
        Self {
            head: AtomicPtr::new(core::ptr::null_mut()),
            // SAFETY: `sched_lock` is initialised when the service is created; only its
            // address is kept, as the identity of the writers' lock.
            lock: unsafe { core::ptr::addr_of!((*svc.as_ptr()).sched_lock) },
        }
    }

    /// Panics unless `writer` holds this list's lock (as `LockedBy::access` does).
    fn check_writer<W>(&self, writer: &SchedGuard<'_, W>) {
        if !core::ptr::eq(writer.locked.lock, self.lock) {
            panic!("RcuList written under another service's sched_lock");
        }
    }

    /// The entries, newest first. `read_side` bounds how long they may be used; a lock as
    /// proof must be this list's.
    pub fn iter<'a, R: ReadSide>(&'a self, read_side: &'a R) -> RcuIter<'a, T> {
        // Constant true for the packet's proof: no test on the packet path.
        if !read_side::Sealed::covers(read_side, self.lock) {
            panic!("RcuList read under another service's sched_lock");
        }
        RcuIter {
            next: self.head.load(Ordering::Acquire),
            _list: PhantomData,
        }
    }

    /// Adds `value` at the front (`hlist_add_head_rcu()`); allocates atomically, as the
    /// packet path must. On failure the list is unchanged.
    pub fn push_front<W>(&self, writer: &SchedGuard<'_, W>, value: T) -> Result {
        self.check_writer(writer);
        let node = KBox::new(
            RcuNode {
                next: AtomicPtr::new(self.head.load(Ordering::Relaxed)),
                rcu: Opaque::uninit(),
                value,
            },
            GFP_ATOMIC,
        )?;
        // Release: a reader that sees the node sees it initialised (`rcu_assign_pointer`).
        self.head.store(KBox::into_raw(node), Ordering::Release);
        Ok(())
    }

    /// Unlinks every entry for which `keep` says false and drops it after a grace period
    /// (`hlist_del_rcu()` + `call_rcu()`). Returns how many were removed.
    pub fn retain<W>(&self, writer: &SchedGuard<'_, W>, mut keep: impl FnMut(&T) -> bool) -> usize {
        self.check_writer(writer);
        let mut removed = 0;
        let mut link = &self.head;
        loop {
            let node = link.load(Ordering::Relaxed);
            if node.is_null() {
                return removed;
            }
            // SAFETY: non-null links point to live nodes of this list (type invariant); the
            // writer holds the list's lock (checked above), which keeps other writers away,
            // so the node stays linked during the call.
            let node_ref = unsafe { &*node };
            if keep(&node_ref.value) {
                link = &node_ref.next;
                continue;
            }
            // Readers standing on the node still find its successor; new readers skip it.
            link.store(node_ref.next.load(Ordering::Relaxed), Ordering::Release);
            removed += 1;
            // SAFETY: the node is unlinked, so after a grace period no reader holds it; the
            // callback then frees it, once.
            unsafe { bindings::call_rcu(node_ref.rcu.get(), Some(free_rcu_node::<T>)) };
        }
    }

    /// Unlinks the first entry for which `matches` says true, as [`RcuList::retain`] does.
    /// Returns whether one was found.
    pub fn remove_first<W>(
        &self,
        writer: &SchedGuard<'_, W>,
        mut matches: impl FnMut(&T) -> bool,
    ) -> bool {
        let mut found = false;
        self.retain(writer, |value| {
            if !found && matches(value) {
                found = true;
                return false;
            }
            true
        }) > 0
    }
}

impl<T> Drop for RcuList<T> {
    fn drop(&mut self) {
        // Dropping the list means no reader can reach it any more: the glue drops scheduler
        // state one grace period after `done_service`, and list entries (which may own lists
        // themselves) one grace period after they were unlinked.
        let mut node = *self.head.get_mut();
        while !node.is_null() {
            // SAFETY: every node of the list is a leaked `KBox` owned by the list (type
            // invariant) and unreachable by readers (see above).
            let boxed = unsafe { KBox::from_raw(node) };
            node = boxed.next.load(Ordering::Relaxed);
        }
    }
}

unsafe extern "C" fn free_rcu_node<T>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` field of a node unlinked by `RcuList::retain`.
    let node = unsafe { kernel::container_of!(head, RcuNode<T>, rcu) };
    // SAFETY: the node came from `KBox::into_raw`, and a grace period has passed since it was
    // unlinked, so no reader holds it.
    drop(unsafe { KBox::from_raw(node.cast_mut()) });
}

/// Iterator over an [`RcuList`] (`hlist_for_each_entry_rcu`).
pub struct RcuIter<'a, T> {
    next: *mut RcuNode<T>,
    _list: PhantomData<&'a T>,
}

impl<T> Clone for RcuIter<'_, T> {
    fn clone(&self) -> Self {
        Self {
            next: self.next,
            _list: PhantomData,
        }
    }
}

impl<'a, T> Iterator for RcuIter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: the node was linked when we loaded its address, and the read-side proof the
        // iterator borrows keeps it from being freed for `'a`.
        let node = unsafe { &*self.next };
        self.next = node.next.load(Ordering::Acquire);
        Some(&node.value)
    }
}
