// SPDX-License-Identifier: GPL-2.0
//! The service's place in its list of real servers, kept by the glue as C's rr keeps
//! `svc->sched_data`: the schedulers that continue where their last call stopped (rr, and
//! wrr's `mark->cl`) read and set it under the service's `sched_lock` ([`PlaceGuard`]), and
//! follow it without a check, as C does.
//!
//! What makes following it sound is where it can point, which the glue alone decides:
//! - a scheduler sets it only to a server that a walk under the same guard handed out
//!   ([`PlaceCursor`] borrows the guard, so it cannot be kept past it), or to the head;
//! - when IPVS deletes the server at the place, the glue's `del_dest` trampoline moves the
//!   place, under `sched_lock`, to the server before it (C's `p->next->prev`) before the
//!   server can be freed (IPVS frees it a grace period after that callback);
//! - when the service stops using the scheduler, IPVS clears `svc->scheduler` and then calls
//!   `done_service`, and unlinks the servers without the destination callbacks: the glue's
//!   `done_service` trampoline first puts the place back at the head, under `sched_lock`, and
//!   from then on a packet still in `schedule()` (it loaded the scheduler before the unbind)
//!   finds `svc->scheduler` null under the lock and does not move the place. IPVS binds the
//!   next scheduler only after a grace period (`synchronize_rcu()`), when no such packet is
//!   left.
//!
//! So the place is always the head, a server of the list, or a server IPVS has just unlinked
//! and whose `del_dest` trampoline has not run yet. Such a server is still valid for whoever
//! holds `sched_lock`: IPVS frees it only a grace period after that callback, which cannot
//! move the place before the holder lets the lock go, and the holder is inside an RCU
//! read-side section (or IPVS's configuration mutex). Its `next` still leads back to the head
//! (`list_del_rcu()` leaves it), and nothing else in the list changes meanwhile: IPVS holds
//! its configuration mutex through the callback, so no other server of the service is
//! unlinked, and none revived, before it.

use core::{cell::UnsafeCell, marker::PhantomData, ptr::NonNull};
use kernel::bindings;

use super::{
    sched_lock::{spin_lock_bh, spin_unlock_bh},
    Dest, Destinations, Service,
};

/// The place of a service: the word that says where in its list the next walk starts.
///
/// # Invariants
///
/// Read and written only with the service's `sched_lock` held. Never null: the list head
/// (`&svc->destinations`, as C's rr starts), a server of the list, or one IPVS has just
/// unlinked whose `del_dest` trampoline has not moved it yet (module documentation). It is in
/// the glue's state of the service (schedulers with per-service data) or the service's
/// `sched_data` word itself (those without, as C's rr keeps it there).
#[repr(transparent)]
pub(super) struct Place(UnsafeCell<*mut bindings::list_head>);

// SAFETY: every access is serialised by the service's `sched_lock` (type invariant).
unsafe impl Sync for Place {}
// SAFETY: as above; the pointer is only followed under that lock, on whichever CPU.
unsafe impl Send for Place {}

impl Place {
    /// The head of `svc`, which has just started using the scheduler.
    pub(super) fn new(svc: &Service) -> Self {
        Self(UnsafeCell::new(svc.destinations().head))
    }

    /// The place kept in `svc->sched_data` (for a scheduler without per-service data).
    ///
    /// # Safety
    ///
    /// `svc` is bound to a scheduler whose place this word is: its `init_service` callback
    /// stored a place there (the head), and only the glue's `PlaceGuard` writes it until the
    /// service stops using the scheduler; the reference does not outlive the callback.
    pub(super) unsafe fn in_sched_data<'a>(svc: *mut bindings::ip_vs_service) -> &'a Place {
        // SAFETY: `sched_data` is a `void *` inside the valid service, so a word of the size
        // and alignment of `Place` (a transparent `UnsafeCell` of a pointer) that only places
        // are written to (safety requirements).
        unsafe { &*core::ptr::addr_of!((*svc).sched_data).cast::<Place>() }
    }
}

/// The place of `svc`, its `sched_lock` held (bottom halves off) until the guard is dropped.
///
/// # Invariants
///
/// `place` is the place of `svc`, whose `sched_lock` this guard holds. The guard lives in one
/// scheduler callback of `svc`, which runs under the RCU read lock (`schedule`) or IPVS's
/// configuration mutex (the destination callbacks), so the list nodes it reaches stay valid.
pub struct PlaceGuard<'a> {
    svc: &'a Service,
    place: &'a Place,
    /// The address of the service's data (the scheduler's `ServiceData`, in the glue's state
    /// of the service), which [`PlaceLocked::access_mut`] checks; null where no callback
    /// reaches the data.
    data: *const (),
    /// The place when the lock was taken (the lock held, nothing changes it meanwhile but this
    /// guard).
    at: NonNull<bindings::list_head>,
    /// Released on the CPU that took it: not `Send`.
    _not_send: PhantomData<*mut ()>,
}

/// A position in the service's list, the head or a server: the place when the guard was taken
/// ([`PlaceGuard::at`]), the head ([`PlaceGuard::head`]) or a server handed out by a walk of
/// the guard it borrows ([`PlaceGuard::walk_after`]); what [`PlaceGuard::set`] stores.
///
/// The lifetime ties a cursor to *a* guard, not to the one it came from: what keeps a cursor
/// with its own guard is that a callback only ever holds one. It reaches only its own
/// service's place (its `Packet` or `DestChange`), and a second guard of that service would
/// deadlock on `sched_lock` before it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaceCursor<'p> {
    node: NonNull<bindings::list_head>,
    _guard: PhantomData<&'p ()>,
}

impl<'a> PlaceGuard<'a> {
    /// Takes `svc`'s `sched_lock`.
    ///
    /// # Safety
    ///
    /// `place` is the place of `svc`, and `data` null or the address of `svc`'s data; the
    /// caller is one of `svc`'s scheduler callbacks, under the RCU read lock or IPVS's
    /// configuration mutex, and the guard does not outlive it.
    pub(super) unsafe fn lock(svc: &'a Service, place: &'a Place, data: *const ()) -> Self {
        // SAFETY: `sched_lock` is initialised when the service is created and lives as long
        // as it; the service is valid for the callback.
        unsafe { spin_lock_bh(svc.sched_lock()) };
        // SAFETY: the lock is held (type invariant of `Place`).
        let at = unsafe { *place.0.get() };
        // SAFETY: a place is never null (type invariant of `Place`).
        let at = unsafe { NonNull::new_unchecked(at) };
        // INVARIANT: the lock is held; the rest as per the safety requirements.
        Self {
            svc,
            place,
            data,
            at,
            _not_send: PhantomData,
        }
    }

    /// The address of the service's data, null where no callback reaches it.
    pub(super) fn data_ptr(&self) -> *const () {
        self.data
    }

    /// The place: where the last call stopped, or the head.
    pub fn at(&self) -> PlaceCursor<'_> {
        PlaceCursor {
            node: self.at,
            _guard: PhantomData,
        }
    }

    /// The list head: a walk after it gives every server.
    pub fn head(&self) -> PlaceCursor<'_> {
        PlaceCursor {
            // SAFETY: the head is a member of the service, never null.
            node: unsafe { NonNull::new_unchecked(self.svc.destinations().head) },
            _guard: PhantomData,
        }
    }

    /// Moves the place to `cursor`; nothing once the service stopped using the scheduler.
    pub fn set<'p>(&'p self, cursor: PlaceCursor<'p>) {
        // IPVS cleared `svc->scheduler` before calling `done_service`, whose trampoline took
        // this lock after it (`stop`): if this guard was taken after that, it sees the null.
        if !self.svc.scheduler_is_unbound() {
            // SAFETY: the lock is held (type invariant).
            unsafe { *self.place.0.get() = cursor.node.as_ptr() };
        }
    }

    /// The service's real servers after `from` (all of them after the head), in list order,
    /// each with its cursor: C's `list_for_each_entry_continue_rcu()` from the place.
    pub fn walk_after<'p>(&'p self, from: PlaceCursor<'p>) -> PlaceWalk<'p, 'a> {
        self.walker().after(from)
    }

    /// What [`PlaceGuard::walk_after`] needs, as a copyable value (the service) that borrows
    /// the guard: a closure that walks the list can then carry it in a register.
    pub fn walker<'p>(&'p self) -> PlaceWalker<'p, 'a> {
        PlaceWalker {
            svc: self.svc,
            _guard: PhantomData,
        }
    }

    /// The service stops using the scheduler (IPVS cleared `svc->scheduler`; its servers are
    /// about to be unlinked without the destination callbacks): the place goes back to the
    /// head, where [`PlaceGuard::set`] leaves it from now on.
    pub(super) fn stop(&mut self) {
        let head = self.svc.destinations().head;
        // SAFETY: the lock is held (type invariant).
        unsafe { *self.place.0.get() = head };
        // SAFETY: the head is a member of the service, never null.
        self.at = unsafe { NonNull::new_unchecked(head) };
    }

    /// `deleted`, just unlinked from the list, was the server at the place: the place moves to
    /// the server before it (the head if it was the first), as C's `ip_vs_rr_del_dest()`.
    ///
    /// # Safety
    ///
    /// `deleted` is the server IPVS unlinked before calling the `del_dest` callback this guard
    /// lives in (with IPVS's configuration mutex held, so the list does not change).
    /// [`PlaceGuard::at`] then gives the new place.
    pub(super) unsafe fn step_back_from(&mut self, deleted: &Dest) {
        // SAFETY: `deleted` is valid during its callback (safety requirements).
        let node = unsafe { core::ptr::addr_of_mut!((*deleted.as_ptr()).n_list) };
        if self.at.as_ptr() == node {
            // SAFETY: `list_del_rcu()` left the unlinked node's `next` pointing to its
            // successor (or the head), whose `prev` is now the node before it (or the head);
            // the list is stable under the mutex.
            let before = unsafe { (*(*node).next).prev };
            // SAFETY: the lock is held (type invariant).
            unsafe { *self.place.0.get() = before };
            // SAFETY: a node of the circular list (or its head), never null.
            self.at = unsafe { NonNull::new_unchecked(before) };
        }
    }
}

impl Drop for PlaceGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `PlaceGuard::lock`, released once here, on the same CPU.
        unsafe { spin_unlock_bh(self.svc.sched_lock()) };
    }
}

/// The walks of a [`PlaceGuard`], for as long as it is borrowed ([`PlaceGuard::walker`]).
#[derive(Clone, Copy)]
pub struct PlaceWalker<'p, 'a> {
    svc: &'a Service,
    _guard: PhantomData<&'p ()>,
}

impl<'p, 'a> PlaceWalker<'p, 'a> {
    /// [`PlaceGuard::walk_after`].
    pub fn after(self, from: PlaceCursor<'p>) -> PlaceWalk<'p, 'a> {
        let mut dests = self.svc.destinations();
        // A cursor of the guard this borrows is the place, the head or a server its walks
        // handed out: the head, a node of this service's list, or one just unlinked whose
        // `del_dest` trampoline waits for the guard's lock (module documentation).
        dests.pos = from.node.as_ptr();
        PlaceWalk {
            dests,
            _guard: PhantomData,
        }
    }
}

/// The walk of [`PlaceGuard::walk_after`]: each server with its cursor.
pub struct PlaceWalk<'p, 'a> {
    dests: Destinations<'a>,
    _guard: PhantomData<&'p ()>,
}

impl<'p, 'a> Iterator for PlaceWalk<'p, 'a> {
    type Item = (PlaceCursor<'p>, &'a Dest);

    fn next(&mut self) -> Option<(PlaceCursor<'p>, &'a Dest)> {
        let dest = self.dests.next()?;
        let cursor = PlaceCursor {
            // `pos` is the node of `dest` (never null: the compiler knows, no test here).
            node: NonNull::new(self.dests.pos)?,
            _guard: PhantomData,
        };
        Some((cursor, dest))
    }
}
