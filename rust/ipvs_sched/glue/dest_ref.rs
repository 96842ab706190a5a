// SPDX-License-Identifier: GPL-2.0
//! A counted reference to a real server, for schedulers that remember one beyond a callback.

use core::{
    ops::Deref,
    ptr::{addr_of_mut, NonNull},
};
use kernel::bindings;

use super::Dest;

/// A counted reference to a real server (C's `ip_vs_dest_hold()` / `ip_vs_dest_put_and_free()`):
/// a scheduler that remembers a server beyond one callback (lblc's table entries) keeps one, so
/// that a server deleted from the service stays allocated, in the trash, while referenced.
///
/// # Invariants
///
/// `dest` points to a destination on which this value owns one reference.
pub struct DestRef {
    dest: NonNull<bindings::ip_vs_dest>,
}

// SAFETY: the reference count is atomic and a destination may be used from any CPU.
unsafe impl Send for DestRef {}
// SAFETY: a shared `DestRef` only gives `&Dest`, whose accessors are all thread-safe.
unsafe impl Sync for DestRef {}

impl DestRef {
    /// Takes a reference on `dest`.
    pub fn new(dest: &Dest) -> Self {
        // SAFETY: `dest` is valid for the call; `refcnt` counts the references to it.
        unsafe { bindings::refcount_inc(addr_of_mut!((*dest.as_ptr()).refcnt)) };
        // INVARIANT: we took one reference just above.
        Self {
            // SAFETY: the pointer comes from a reference, so it is not null.
            dest: unsafe { NonNull::new_unchecked(dest.as_ptr()) },
        }
    }
}

impl Clone for DestRef {
    /// Another reference to the same server (`ip_vs_dest_hold()`).
    fn clone(&self) -> Self {
        Self::new(self)
    }
}

impl Deref for DestRef {
    type Target = Dest;
    fn deref(&self) -> &Dest {
        // SAFETY: our reference keeps the destination allocated (type invariant).
        unsafe { Dest::from_raw(self.dest.as_ptr()) }
    }
}

impl Drop for DestRef {
    fn drop(&mut self) {
        let dest = self.dest.as_ptr();
        // SAFETY: we own one reference (type invariant); when it is the last one the
        // destination was already removed from the service and IPVS left freeing it to the
        // last holder, as `ip_vs_dest_put_and_free()` does.
        unsafe {
            if bindings::refcount_dec_and_test(addr_of_mut!((*dest).refcnt)) {
                bindings::kfree(dest.cast());
            }
        }
    }
}
