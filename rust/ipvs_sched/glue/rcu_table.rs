// SPDX-License-Identifier: GPL-2.0
//! A table of buckets that the packet path reads under RCU and the configuration replaces as a
//! whole: what the hashing schedulers (dh, sh, mh) keep per service.
//!
//! C's hashing schedulers rebuild their buckets in place, one RCU pointer at a time, while
//! packets read them; here a rebuild fills a new table and publishes it with one pointer, so a
//! packet sees the old table or the new one, never a mix, and the old one (with the server
//! references its buckets hold) is dropped after a grace period. The choices are the same as
//! C's once the rebuild is over.

use core::{
    mem::MaybeUninit,
    ptr::addr_of_mut,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{bindings, prelude::*, types::Opaque};

use super::{DestChange, Packet};

/// `N` buckets, each holding a `U` or nothing, replaced under IPVS's configuration mutex.
///
/// # Invariants
///
/// `table` points to a table made by [`RcuTable::alloc`] (a leaked `KBox`) that only this value
/// owns. It is replaced only with IPVS's configuration mutex held ([`DestChange`]), so replacers
/// are serialised; a replaced table is freed one grace period later.
pub struct RcuTable<U, const N: usize> {
    table: AtomicPtr<Buckets<U, N>>,
}

struct Buckets<U, const N: usize> {
    rcu: Opaque<bindings::callback_head>,
    buckets: [Option<U>; N],
}

// SAFETY: the buckets are read on every CPU (`U: Sync`) and dropped on any CPU (`U: Send`).
unsafe impl<U: Send + Sync, const N: usize> Send for RcuTable<U, N> {}
// SAFETY: as above; replacements are serialised by IPVS's configuration mutex (the type
// invariant), readers only get shared references.
unsafe impl<U: Send + Sync, const N: usize> Sync for RcuTable<U, N> {}

impl<U, const N: usize> RcuTable<U, N> {
    /// A new table of empty buckets, allocated in place (a table may be too large for the
    /// stack), then filled by `fill`.
    fn alloc(fill: impl FnOnce(&mut [Option<U>; N]) -> Result) -> Result<*mut Buckets<U, N>> {
        let mut new = KBox::<Buckets<U, N>>::new_uninit(GFP_KERNEL)?;
        let p: *mut Buckets<U, N> = MaybeUninit::as_mut_ptr(&mut new);
        // SAFETY: `p` points to our fresh allocation; writing every field (each bucket
        // `None`) initialises it before `assume_init`.
        let mut new = unsafe {
            addr_of_mut!((*p).rcu).write(Opaque::uninit());
            let buckets = addr_of_mut!((*p).buckets).cast::<Option<U>>();
            for i in 0..N {
                buckets.add(i).write(None);
            }
            new.assume_init()
        };
        fill(&mut new.buckets)?;
        Ok(KBox::into_raw(new))
    }

    /// A table filled by `fill`, for a service that starts using the scheduler.
    pub fn new(fill: impl FnOnce(&mut [Option<U>; N]) -> Result) -> Result<Self> {
        Ok(Self {
            table: AtomicPtr::new(Self::alloc(fill)?),
        })
    }

    /// The buckets as the packet being scheduled sees them.
    pub fn get<'a>(&'a self, _pkt: &'a Packet) -> &'a [Option<U>; N] {
        // Acquire (`rcu_dereference()`): the table is seen filled.
        let table = self.table.load(Ordering::Acquire);
        // SAFETY: the table is live (type invariant) and a replaced one is freed only after a
        // grace period, which the packet's RCU read-side section (`pkt`) holds off.
        unsafe { &(*table).buckets }
    }

    /// Replaces the table by a new one filled by `fill`. If the allocation or `fill` fails,
    /// the old table stays and the destination callback returns the error.
    pub fn replace(
        &self,
        _change: &DestChange<'_>,
        fill: impl FnOnce(&mut [Option<U>; N]) -> Result,
    ) -> Result {
        let new = Self::alloc(fill)?;
        // Release (`rcu_assign_pointer()`): a reader that sees the new table sees it filled.
        let old = self.table.swap(new, Ordering::AcqRel);
        // SAFETY: `old` is unlinked: after a grace period no reader holds it, and the callback
        // then frees it, once. Only one replacer runs at a time (`DestChange`: the mutex).
        unsafe { bindings::call_rcu(addr_of_mut!((*old).rcu).cast(), Some(free_buckets::<U, N>)) };
        Ok(())
    }
}

impl<U, const N: usize> Drop for RcuTable<U, N> {
    fn drop(&mut self) {
        // The glue drops a service's scheduler state one grace period after the service stopped
        // using the scheduler: no reader remains.
        // SAFETY: the table is ours (type invariant) and unreachable by readers.
        drop(unsafe { KBox::from_raw(*self.table.get_mut()) });
    }
}

unsafe extern "C" fn free_buckets<U, const N: usize>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` field of a table replaced by `RcuTable::replace`.
    let table = unsafe { kernel::container_of!(head, Buckets<U, N>, rcu) };
    // SAFETY: the table came from `KBox::into_raw`, and a grace period has passed since it was
    // replaced, so no reader holds it.
    drop(unsafe { KBox::from_raw(table.cast_mut()) });
}
