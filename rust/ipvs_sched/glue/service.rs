// SPDX-License-Identifier: GPL-2.0
//! The virtual service (`struct ip_vs_service`) as a scheduler callback sees it.

use core::marker::PhantomData;
use kernel::{bindings, str::CStr, types::Opaque};

use super::{Dest, Destinations};

/// A virtual service (`struct ip_vs_service`), seen from inside a scheduler callback.
///
/// # Invariants
///
/// Only created by the trampolines from the pointer IPVS passes, valid for the callback.
#[repr(transparent)]
pub struct Service(Opaque<bindings::ip_vs_service>);

impl Service {
    /// # Safety
    ///
    /// `ptr` is a service IPVS passed to a scheduler callback; the result is not used after
    /// the callback returns.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::ip_vs_service) -> &'a Self {
        // SAFETY: `Service` is a transparent wrapper of the C struct; validity as per the
        // function's safety requirements.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::ip_vs_service {
        self.0.get()
    }

    /// True for an IPv6 service.
    pub fn is_ipv6(&self) -> bool {
        // SAFETY: `af` is set when the service is created and never changes afterwards.
        unsafe { (*self.as_ptr()).af == bindings::AF_INET6 as u16 }
    }

    /// The service's flags (`IP_VS_SVC_F_*`: persistence, hashing, the schedulers' own
    /// flags such as `sh-port`), which `ipvsadm -E` may change at any time.
    pub fn flags(&self) -> u32 {
        // SAFETY: `flags` is a word inside the valid service; C reads it without a lock too.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).flags)) }
    }

    /// The service's real servers, in list order.
    ///
    /// Walking the list needs the RCU read lock or IPVS's configuration mutex; every callback
    /// that receives a [`Service`] runs with one of them held.
    pub fn destinations(&self) -> Destinations<'_> {
        // SAFETY: the list head lives in the service, valid for the callback.
        let head = unsafe { core::ptr::addr_of_mut!((*self.as_ptr()).destinations) };
        Destinations {
            head,
            pos: head,
            _service: PhantomData,
        }
    }

    /// Whether IPVS has cleared `svc->scheduler`: the service stopped using the scheduler
    /// whose callback asks (`ip_vs_unbind_scheduler()` clears it before `done_service`).
    pub(super) fn scheduler_is_unbound(&self) -> bool {
        // SAFETY: `scheduler` is a word inside the valid service. IPVS writes it with
        // `rcu_assign_pointer()` and no lock of ours, so it is read once, as
        // `READ_ONCE()`; only its being null is used, never the pointer.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).scheduler)) }
            .is_null()
    }

    /// The service's `sched_lock`.
    pub(super) fn sched_lock(&self) -> *mut bindings::spinlock_t {
        // SAFETY: the lock lives in the service, valid for the callback.
        unsafe { core::ptr::addr_of_mut!((*self.as_ptr()).sched_lock) }
    }

    /// The network namespace of the service.
    pub(super) fn net(&self) -> *mut bindings::net {
        // SAFETY: `ipvs` is set when the service is created, and its netns outlives it.
        unsafe { (*(*self.as_ptr()).ipvs).net }
    }

    /// Refuses the connection: logs `msg` naming the service (rate-limited, as
    /// `ip_vs_scheduler_err()` does for the C schedulers) and returns `None`, what
    /// [`Scheduler::schedule`] then returns.
    ///
    /// Out of line and cold: the packet path calls it only to refuse, as its tail call, so
    /// a scheduler that makes no other call needs no stack frame, as C's need none.
    ///
    /// [`Scheduler::schedule`]: super::Scheduler::schedule
    #[cold]
    #[inline(never)]
    pub fn refuse<'a>(&self, msg: &CStr) -> Option<&'a Dest> {
        // SAFETY: the service is valid for the callback and `msg` is NUL-terminated.
        unsafe { bindings::ip_vs_scheduler_err(self.as_ptr(), msg.as_char_ptr()) };
        // Hidden from the optimiser: knowing the result is `None`, it would return it in the
        // caller after a plain call, for which that caller then keeps a frame.
        core::hint::black_box(None)
    }
}
