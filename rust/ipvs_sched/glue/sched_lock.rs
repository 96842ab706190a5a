// SPDX-License-Identifier: GPL-2.0
//! The service's `sched_lock`, and the scheduler state it protects.

use core::{
    cell::UnsafeCell,
    ops::{Deref, DerefMut},
};
use kernel::bindings;

use super::{PlaceGuard, Service, TimerContext};

/// Per-service scheduler state that the packet path changes (lblc's and lblcr's tables), protected
/// by the service's `sched_lock` taken with `spin_lock_bh`, as the C schedulers do: the packet
/// path runs in softirq context and the configuration callbacks in process context.
///
/// # Invariants
///
/// `lock` is the `sched_lock` of the service this state belongs to; the state is reachable only
/// from that service's callbacks, while the service is alive.
pub struct SchedLocked<T> {
    pub(super) lock: *mut bindings::spinlock_t,
    pub(super) data: UnsafeCell<T>,
}

// SAFETY: the data is only accessed with the service's spinlock held.
unsafe impl<T: Send> Send for SchedLocked<T> {}
// SAFETY: as above: `lock()` serialises every access.
unsafe impl<T: Send> Sync for SchedLocked<T> {}

impl<T> SchedLocked<T> {
    /// State for `svc`, to be returned from [`PerService::init`](super::PerService::init) of that service.
    pub fn new(svc: &Service, data: T) -> Self {
        // SAFETY: `sched_lock` is initialised when the service is created and lives as long
        // as the service.
        let lock = unsafe { core::ptr::addr_of_mut!((*svc.as_ptr()).sched_lock) };
        Self {
            lock,
            data: UnsafeCell::new(data),
        }
    }

    /// Takes the service's `sched_lock` (bottom halves disabled) until the guard is dropped.
    pub fn lock(&self) -> SchedGuard<'_, T> {
        // SAFETY: by the type invariant the lock belongs to a live service.
        unsafe { spin_lock_bh(self.lock) };
        SchedGuard {
            locked: self,
            bh: true,
        }
    }

    /// Takes the service's `sched_lock` from the timer callback, where bottom halves are off
    /// already: a plain `spin_lock()`, once per bucket of a garbage-collection pass.
    pub fn lock_in_timer(&self, _timer: &TimerContext) -> SchedGuard<'_, T> {
        // SAFETY: by the type invariant the lock belongs to a live service; the timer
        // callback runs in softirq context, so the packet path cannot interrupt the holder
        // on this CPU.
        unsafe { bindings::spin_lock(self.lock) };
        SchedGuard {
            locked: self,
            bh: false,
        }
    }
}

/// The per-service data of a scheduler that changes it beside its place on the packet path
/// (wrr's levels, C's `struct ip_vs_wrr_mark` but `cl`), protected by the `sched_lock` that a
/// [`PlaceGuard`] holds: the scheduler's `ServiceData` itself, reached only with a guard of
/// its own service ([`PlaceLocked::access_mut`]).
pub struct PlaceLocked<T>(UnsafeCell<T>);

// SAFETY: the data is only accessed with its service's `sched_lock` held.
unsafe impl<T: Send> Send for PlaceLocked<T> {}
// SAFETY: as above: `access_mut` needs the guard of that lock.
unsafe impl<T: Send> Sync for PlaceLocked<T> {}

impl<T> PlaceLocked<T> {
    /// The data of a service, to be returned from [`PerService::init`](super::PerService::init).
    /// Not of size zero (a build error): the check of [`PlaceLocked::access_mut`] is by
    /// address, and values of size zero may share one (as `LockedBy` asks of its owner).
    pub fn new(data: T) -> Self {
        const { assert!(core::mem::size_of::<T>() != 0) };
        Self(UnsafeCell::new(data))
    }

    /// The data, under the `sched_lock` that `place` holds, and the place back, for the walks
    /// the data steers (`kernel::sync::LockedBy::access_mut`, with the place's guard as the
    /// owner's).
    ///
    /// # Panics
    ///
    /// Unless `self` is the data of the service whose lock `place` holds (its `ServiceData`,
    /// at the address the glue keeps it), as `LockedBy` panics on another owner's guard. The
    /// glue calls `schedule` in line, so there the compiler sees one address and drops the
    /// test.
    pub fn access_mut<'p, 'a>(
        &'p self,
        place: &'p mut PlaceGuard<'a>,
    ) -> (&'p mut T, &'p PlaceGuard<'a>) {
        assert!(
            core::ptr::eq((self as *const Self).cast::<()>(), place.data_ptr()),
            "data of another service"
        );
        // SAFETY: `self` is at the address of the data of the guard's service, which only
        // that service's state holds: every reference to it comes from a callback of that
        // service, and this function, the only access, needs a guard of the service's
        // `sched_lock`, which the guard holds. Borrowing the guard exclusively for `'p` keeps
        // a second reference from being handed out meanwhile, and the lock, which is not
        // recursive, keeps a second guard from being taken on this CPU. `T` is not of size
        // zero (`new`), so no other value shares the address.
        (unsafe { &mut *self.0.get() }, place)
    }
}

/// Access to [`SchedLocked`] data; releases `sched_lock` when dropped.
pub struct SchedGuard<'a, T> {
    pub(super) locked: &'a SchedLocked<T>,
    /// Taken with `spin_lock_bh` ([`SchedLocked::lock`]), not `spin_lock`.
    pub(super) bh: bool,
}

impl<T> Deref for SchedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the data is live.
        unsafe { &*self.locked.data.get() }
    }
}

impl<T> DerefMut for SchedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so no other reference to the data is live.
        unsafe { &mut *self.locked.data.get() }
    }
}

impl<T> Drop for SchedGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: taken in `SchedLocked::lock` or `lock_in_timer` (as `bh` says), released
        // exactly once here.
        unsafe {
            if self.bh {
                spin_unlock_bh(self.locked.lock)
            } else {
                bindings::spin_unlock(self.locked.lock)
            }
        };
    }
}

// `spin_lock_bh()` is `_raw_spin_lock_bh(&lock->rlock)`, and `spin_unlock_bh()` is
// `_raw_spin_unlock_bh(&lock->rlock)`, on an SMP kernel (or one with DEBUG_SPINLOCK) that
// is not PREEMPT_RT (a `spinlock_t` is then a sleeping lock) and does not inline them
// (INLINE_SPIN_*_BH: the functions are then not built). There they are called directly
// rather than through the `rust_helper_*` wrappers, whose calls cost four instructions per
// packet on the schedulers that lock (rr, wrr): a tenth of rr's `schedule()` without the
// lock. Elsewhere the wrappers.

#[cfg(all(
    any(CONFIG_SMP, CONFIG_DEBUG_SPINLOCK),
    not(any(
        CONFIG_PREEMPT_RT,
        CONFIG_INLINE_SPIN_LOCK_BH,
        CONFIG_INLINE_SPIN_UNLOCK_BH
    ))
))]
mod raw {
    use kernel::bindings;

    /// `spin_lock_bh()`.
    ///
    /// # Safety
    ///
    /// `lock` points to an initialised `spinlock_t` that outlives the call.
    #[inline(always)]
    pub(in super::super) unsafe fn spin_lock_bh(lock: *mut bindings::spinlock_t) {
        // SAFETY: without PREEMPT_RT a `spinlock_t` is a union whose member `rlock`, the
        // `raw_spinlock_t` that `spin_lock_bh()` takes, is at offset 0 (its other member, with
        // DEBUG_LOCK_ALLOC, is padding up to `rlock`'s `dep_map`); `lock` is valid (caller).
        unsafe { bindings::_raw_spin_lock_bh(lock.cast()) }
    }

    /// `spin_unlock_bh()`.
    ///
    /// # Safety
    ///
    /// `lock` points to a `spinlock_t` that this context holds, taken by [`spin_lock_bh`].
    #[inline(always)]
    pub(in super::super) unsafe fn spin_unlock_bh(lock: *mut bindings::spinlock_t) {
        // SAFETY: as in `spin_lock_bh`; the caller holds the lock.
        unsafe { bindings::_raw_spin_unlock_bh(lock.cast()) }
    }
}

#[cfg(not(all(
    any(CONFIG_SMP, CONFIG_DEBUG_SPINLOCK),
    not(any(
        CONFIG_PREEMPT_RT,
        CONFIG_INLINE_SPIN_LOCK_BH,
        CONFIG_INLINE_SPIN_UNLOCK_BH
    ))
)))]
mod raw {
    pub(in super::super) use kernel::bindings::{spin_lock_bh, spin_unlock_bh};
}

pub(super) use raw::{spin_lock_bh, spin_unlock_bh};
