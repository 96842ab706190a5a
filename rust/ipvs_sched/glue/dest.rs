// SPDX-License-Identifier: GPL-2.0
//! The real server (`struct ip_vs_dest`) as a scheduler reads it: weight, flags, connection
//! counters and address, each loaded as C's `atomic_read()`/`READ_ONCE()` would.

use core::ptr::addr_of;
use kernel::{bindings, types::Opaque};

/// An IP address, network byte order: the core's, which the hashing rules fold.
pub use crate::sched_core::hash::Addr;

/// C's `atomic_read()`: a volatile load of the counter (`READ_ONCE()`), inline. A
/// `rust_helper_*` call would cost more than the load: the schedulers read three
/// counters of every real server on the packet path.
///
/// # Safety
///
/// `v` points to a live `atomic_t`.
unsafe fn atomic_read(v: *const bindings::atomic_t) -> i32 {
    // SAFETY: as per the function's safety requirements; `counter` is an aligned `int` that
    // other CPUs change only with atomic operations.
    unsafe { core::ptr::read_volatile(addr_of!((*v).counter)) }
}

/// A real server (`struct ip_vs_dest`), seen from inside a scheduler callback.
#[repr(transparent)]
pub struct Dest(Opaque<bindings::ip_vs_dest>);

impl Dest {
    /// # Safety
    ///
    /// `ptr` points to a destination that stays valid for the returned lifetime.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::ip_vs_dest) -> &'a Self {
        // SAFETY: `Dest` is a transparent wrapper of the C struct; validity as per the
        // function's safety requirements.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::ip_vs_dest {
        self.0.get()
    }

    /// The server's weight; 0 means quiesced.
    pub fn weight(&self) -> i32 {
        // SAFETY: `weight` is an `atomic_t` inside a valid destination.
        unsafe { atomic_read(addr_of!((*self.as_ptr()).weight)) }
    }

    /// Status flags (`IP_VS_DEST_F_*`), changed concurrently by the connection code.
    pub fn flags(&self) -> u32 {
        // SAFETY: `flags` is a `volatile unsigned int` inside a valid destination.
        unsafe { core::ptr::read_volatile(addr_of!((*self.as_ptr()).flags)) }
    }

    /// True when the server reached its upper connection threshold.
    pub fn is_overloaded(&self) -> bool {
        self.flags() & bindings::IP_VS_DEST_F_OVERLOAD != 0
    }

    /// True while the server is part of its service (false once it was deleted and waits in
    /// the trash for its last connections).
    pub fn is_available(&self) -> bool {
        // SAFETY: `cflags` is a word inside a valid destination, changed only under IPVS's
        // configuration mutex; C reads it without a lock too.
        let cflags: usize =
            unsafe { core::ptr::read_volatile(addr_of!((*self.as_ptr()).cflags)) } as usize;
        cflags & bindings::IP_VS_DEST_CF_AVAILABLE as usize != 0
    }

    /// The last weight the server was given that was not 0 (mh places servers by it).
    pub fn last_weight(&self) -> i32 {
        // SAFETY: `last_weight` is an `atomic_t` inside a valid destination.
        unsafe { atomic_read(addr_of!((*self.as_ptr()).last_weight)) }
    }

    /// Connections in the established state.
    pub fn activeconns(&self) -> i32 {
        // SAFETY: `activeconns` is an `atomic_t` inside a valid destination.
        unsafe { atomic_read(addr_of!((*self.as_ptr()).activeconns)) }
    }

    /// All connections currently assigned to the server.
    pub fn totalconns(&self) -> i32 {
        // SAFETY: `totalconns` is an `atomic_t` inside a valid destination.
        unsafe { atomic_read(addr_of!((*self.as_ptr()).totalconns)) }
    }

    /// The server's address.
    pub fn addr(&self) -> Addr {
        let dest = self.as_ptr();
        // SAFETY: `af` and `addr` are set when the destination is created and never change;
        // the union holds an IPv6 address in `in6` and an IPv4 one in `ip` (first word).
        unsafe {
            if (*dest).af == bindings::AF_INET6 as u16 {
                Addr::V6((*dest).addr.in6.in6_u.u6_addr8)
            } else {
                Addr::V4((*dest).addr.ip.to_ne_bytes())
            }
        }
    }

    /// The server's port, host byte order.
    pub fn port(&self) -> u16 {
        // SAFETY: `port` is set when the destination is created and never changes.
        u16::from_be(unsafe { (*self.as_ptr()).port })
    }
}
