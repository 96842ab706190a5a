// SPDX-License-Identifier: GPL-2.0
//! Walks over a service's list of real servers (`list_for_each_entry_rcu`), from its head or
//! from the service's place ([`super::PlaceGuard`]), and the change a destination callback
//! reports.

use core::{marker::PhantomData, ops::Deref, ptr::addr_of};
use kernel::bindings;

use super::{place::Place, Dest, PlaceGuard, Service};

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
        // SAFETY: `pos` is the list head, a node reached from it, or the service's place
        // (`PlaceGuard::walk_after`: a node of the list, or one just unlinked whose `del_dest`
        // trampoline waits for the walker's `sched_lock`, whose `next` leads back to the
        // head); every callback that receives a `Service` runs under the RCU read lock
        // (`schedule`, and `periodic`, whose timer callback takes it) or IPVS's configuration
        // mutex (the others), so nodes stay valid.
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

/// A change of a service's list of real servers, as a destination callback reports it: the
/// server added, deleted or edited ([`Deref`] to it).
///
/// # Invariants
///
/// Made only by the glue's destination callbacks: IPVS's configuration mutex is held, so the
/// list does not change while the value lives; IPVS made the change (linked, unlinked or edited
/// `dest`) before the callback; `svc` is the service, `place` its place and `data` the address
/// of its data.
pub struct DestChange<'a> {
    pub(super) dest: &'a Dest,
    /// IPVS unlinked `dest` (the `del_dest` callback).
    pub(super) deleted: bool,
    pub(super) svc: &'a Service,
    pub(super) place: &'a Place,
    /// The address of the service's data (its `ServiceData`), for [`PlaceGuard`].
    pub(super) data: *const (),
}

impl<'a> DestChange<'a> {
    /// Takes the service's `sched_lock`: its place, to move it (wrr goes back to the head on
    /// every change, as C's `ip_vs_wrr_dest_changed()`).
    ///
    /// When the server was deleted and the place was on it, the place is first moved to the
    /// server before it (the head if it was the first), as C's `ip_vs_rr_del_dest()`, under
    /// the same lock.
    pub fn lock_place(&self) -> PlaceGuard<'a> {
        // SAFETY: `place` is the place of `svc` and `data` the address of its data, and this
        // is one of its destination callbacks, under IPVS's configuration mutex (type
        // invariant); the guard borrows the change's lifetime, that of the callback.
        let mut guard = unsafe { PlaceGuard::lock(self.svc, self.place, self.data) };
        if self.deleted {
            // SAFETY: this is the `del_dest` callback of `dest`, which IPVS unlinked before
            // it, with its configuration mutex held (type invariant).
            unsafe { guard.step_back_from(self.dest) };
        }
        guard
    }
}

impl Deref for DestChange<'_> {
    type Target = Dest;
    fn deref(&self) -> &Dest {
        self.dest
    }
}
