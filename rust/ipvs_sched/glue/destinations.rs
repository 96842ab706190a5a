// SPDX-License-Identifier: GPL-2.0
//! Walks over a service's list of real servers (`list_for_each_entry_rcu`), from its head or
//! from a place a scheduler kept ([`DestCursor`], C's wrr `mark->cl`).

use core::{
    marker::PhantomData,
    ops::Deref,
    ptr::{addr_of, addr_of_mut, NonNull},
};
use kernel::bindings;

use super::{Dest, Service};

/// Iterator over a service's real servers (`list_for_each_entry_rcu`). Cloning it gives a
/// second walk from the same position (schedulers that need two passes, as C's do).
#[derive(Clone)]
pub struct Destinations<'a> {
    pub(super) head: *mut bindings::list_head,
    pub(super) pos: *mut bindings::list_head,
    pub(super) _service: PhantomData<&'a Service>,
}

impl<'a> Iterator for Destinations<'a> {
    type Item = &'a Dest;

    fn next(&mut self) -> Option<&'a Dest> {
        // SAFETY: `pos` is the list head or a node reached from it; every callback that
        // receives a `Service` runs under the RCU read lock (`schedule`, and `periodic`, whose
        // timer callback takes it) or IPVS's configuration mutex (the others), so nodes stay
        // valid.
        // A volatile load of `next` is what C's `list_for_each_entry_rcu()` does
        // (`READ_ONCE()`, which needs no barrier on the architectures Rust supports); it is
        // done here rather than through a `rust_helper_*` C function, whose call would cost
        // more than the load on the packet path.
        let next = unsafe { core::ptr::read_volatile(addr_of!((*self.pos).next)) };
        if next == self.head {
            return None;
        }
        // SAFETY: the list is circular: every `next` points to a node or to the head, never
        // null. Saying so spares the walk a test per server (the `Option` returned below
        // would otherwise check the pointer).
        unsafe { core::hint::assert_unchecked(!next.is_null()) };
        self.pos = next;
        // SAFETY: every node of `svc->destinations` is the `n_list` member of an `ip_vs_dest`.
        let dest = unsafe { kernel::container_of!(next, bindings::ip_vs_dest, n_list) };
        // SAFETY: the destination stays valid while the list walk is protected (see above).
        Some(unsafe { Dest::from_raw(dest.cast_mut()) })
    }
}

/// A place in a service's list of real servers, kept by a scheduler between two calls: C's
/// wrr keeps `mark->cl` so that the next call continues after the server it chose last.
/// Handed out by [`Service::destinations_after`] with each server; it can only be given back
/// to that function, which checks that it is still valid before following it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestCursor {
    /// Never null: a `Position` of the core needs no tag of its own beside it.
    pub(super) node: NonNull<bindings::list_head>,
    pub(super) svc: *const bindings::ip_vs_service,
    pub(super) list_changes: usize,
}

// SAFETY: a cursor is a plain value; it is only dereferenced by `DestWalk`, after the checks
// described there, on whichever CPU.
unsafe impl Send for DestCursor {}
// SAFETY: as above.
unsafe impl Sync for DestCursor {}

/// Iterator over a service's real servers after a place, with the cursor of each
/// ([`Service::destinations_after`]).
pub struct DestWalk<'a> {
    pub(super) dests: Destinations<'a>,
    pub(super) svc: *const bindings::ip_vs_service,
    pub(super) list_changes: usize,
}

impl<'a> Iterator for DestWalk<'a> {
    type Item = (DestCursor, &'a Dest);

    fn next(&mut self) -> Option<(DestCursor, &'a Dest)> {
        let dest = self.dests.next()?;
        let cursor = DestCursor {
            // `pos` is the node of `dest` (never null: the compiler knows, no test here).
            node: NonNull::new(self.dests.pos)?,
            svc: self.svc,
            list_changes: self.list_changes,
        };
        Some((cursor, dest))
    }
}

/// A change of a service's list of real servers, as a destination callback reports it: the
/// server added, deleted or edited ([`Deref`] to it).
///
/// # Invariants
///
/// Made only by the glue's destination callbacks: IPVS's configuration mutex is held, so the
/// list does not change while the value lives; IPVS made the change (linked, unlinked or edited
/// `dest`) before the callback; `list_changes` is the service's count of list changes with
/// this one counted.
pub struct DestChange<'a> {
    pub(super) dest: &'a Dest,
    pub(super) deleted: bool,
    pub(super) list_changes: usize,
}

impl Deref for DestChange<'_> {
    type Target = Dest;
    fn deref(&self) -> &Dest {
        self.dest
    }
}

impl Service {
    /// A scheduler's place in the list (`None`: the head), kept across `change` as C's rr
    /// keeps `svc->sched_data`: the same server, or, when the change deleted the server at
    /// the place, the one before it (C's `p->next->prev` after `list_del_rcu()`), so that the
    /// next walk continues where it would have. A place that was not current before the change
    /// (one the scheduler did not keep through an earlier change, or another service's)
    /// becomes the head, where [`Service::destinations_after`] would start anyway.
    pub fn keep_place(
        &self,
        change: &DestChange<'_>,
        place: Option<DestCursor>,
    ) -> Option<DestCursor> {
        let cursor = place?;
        if cursor.svc != self.as_ptr().cast_const() {
            return None;
        }
        // A packet between the count of this change and this callback walked the changed list
        // from its head and kept its place with the new count: a server linked now, the
        // list not changing under the mutex. Keep it as it is.
        if cursor.list_changes == change.list_changes {
            return Some(cursor);
        }
        if cursor.list_changes.wrapping_add(1) != change.list_changes {
            return None;
        }
        let head = self.destinations().head;
        let mut node = cursor.node.as_ptr();
        if change.deleted {
            // SAFETY: the deleted server is valid during its callback (`DestChange`).
            let deleted = unsafe { addr_of_mut!((*change.dest.as_ptr()).n_list) };
            if node == deleted {
                // SAFETY: the configuration mutex is held (`DestChange`), so the list is
                // stable; `list_del_rcu()` left the unlinked node's `next` pointing to its
                // successor (or the head), whose `prev` is now the node before it.
                node = unsafe { (*(*deleted).next).prev };
            }
        }
        if node == head {
            return None;
        }
        // INVARIANT (of the cursor's use in `destinations_after`): `node` is a server of this
        // service's list now: the cursor was current until this change, so its node was linked
        // then, and this change unlinked at most the deleted server, which was replaced above.
        Some(DestCursor {
            node: NonNull::new(node)?,
            svc: cursor.svc,
            list_changes: change.list_changes,
        })
    }
}
