// SPDX-License-Identifier: GPL-2.0
//! The per-service table of the locality-based schedulers: target address → entry, what C's
//! `ip_vs_lblc_table` and `ip_vs_lblcr_table` are. lblc's entry holds one server, lblcr's a
//! set; everything else is the same in both C modules and is here once: the buckets (read under
//! RCU on the packet path, written under the service's `sched_lock`), the entry count and its
//! cap, the flush when the service stops, and the garbage collection the timer runs.
//!
//! Included with `#[path]` by `ip_vs_lblc_rs.rs` and `ip_vs_lblcr_rs.rs`, on top of the glue
//! and the pure core.
#![forbid(unsafe_code)]

use core::marker::PhantomData;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use kernel::{init::init_array_from_fn, prelude::*};

use crate::glue::{
    Addr, Dest, RcuList, ReadSide, SchedGuard, SchedLocked, Service, TimerContext, HZ,
};
use crate::sched_core::lblc::{self, TableRules};

/// The service's real servers, each with itself as its load (`wlc::ServerLoad`, read when a
/// rule tests it), in list order.
pub(crate) fn loads(svc: &Service) -> impl Iterator<Item = (&Dest, &Dest)> + Clone + '_ {
    svc.destinations().map(|dest| (dest, dest))
}

/// A target address as an entry keeps it, C's `union nf_inet_addr`: the bytes in network
/// order, an IPv4 address in the first four. There is no family: a table holds addresses of
/// its service's family only, so a lookup compares the bytes of that family, as C's
/// `ip_vs_addr_equal(af, ..)`, with no tag to test per entry.
#[derive(Clone, Copy)]
pub(crate) struct TargetAddr([u8; 16]);

impl TargetAddr {
    /// `addr` as an entry keeps it.
    pub(crate) fn new(addr: &Addr) -> Self {
        let mut bytes = [0; 16];
        match addr {
            Addr::V4(a) => bytes[..4].copy_from_slice(a),
            Addr::V6(a) => bytes = *a,
        }
        Self(bytes)
    }

    /// The IPv4 address, in an IPv4 table.
    fn v4(&self) -> &[u8; 4] {
        let [v4 @ .., _, _, _, _, _, _, _, _, _, _, _, _] = &self.0;
        v4
    }

    /// Whether this is `addr`, in a table of `addr`'s family.
    fn is(&self, addr: &Addr) -> bool {
        match addr {
            Addr::V4(a) => self.v4() == a,
            Addr::V6(a) => self.0 == *a,
        }
    }
}

/// What the table needs of an entry.
pub(crate) trait Target {
    /// The target address (the key), of the service's family.
    fn addr(&self) -> &TargetAddr;
    /// Jiffies of the last connection to the target.
    fn lastuse(&self) -> &AtomicUsize;
}

/// What the writers change under `sched_lock`.
pub(crate) struct Writer<const BITS: u32> {
    gc: lblc::TableGc<BITS>,
    /// Set when the service stops: the table is being flushed, no entry may be added.
    dead: bool,
}

impl<const BITS: u32> Writer<BITS> {
    /// Whether entries may still be added (C's `!tbl->dead`).
    pub(crate) fn is_live(&self) -> bool {
        !self.dead
    }
}

/// A table of `SIZE` = `1 << BITS` buckets (10 bits for both C modules), hashed and capped by
/// the rules `R` (`R::TAB_BITS` = `BITS`).
pub(crate) struct TargetTable<E, R, const BITS: u32, const SIZE: usize> {
    /// An array of fixed length, as C's: the index, a hash of `BITS` bits, needs no bounds
    /// check on the packet path.
    buckets: KBox<[RcuList<E>; SIZE]>,
    /// The service's family is IPv6: the family of every entry's address.
    ipv6: bool,
    /// Number of entries; changed under `sched_lock`, read without it, as C's `atomic_t`.
    entries: AtomicI32,
    writer: SchedLocked<Writer<BITS>>,
    rules: PhantomData<R>,
}

impl<E: Target, R: TableRules, const BITS: u32, const SIZE: usize> TargetTable<E, R, BITS, SIZE> {
    /// The empty table of `svc` (C's `init_svc`).
    pub(crate) fn new(svc: &Service) -> Result<Self> {
        const { assert!(SIZE == 1 << BITS && R::TAB_BITS == BITS) };
        // Built in place: the array (8 KiB for 10 bits) never passes through the stack.
        let buckets = KBox::init::<core::convert::Infallible>(
            init_array_from_fn(|_| RcuList::new(svc)),
            GFP_KERNEL,
        )?;
        Ok(Self {
            buckets,
            ipv6: svc.is_ipv6(),
            entries: AtomicI32::new(0),
            writer: SchedLocked::new(
                svc,
                Writer {
                    gc: lblc::TableGc::new(),
                    dead: false,
                },
            ),
            rules: PhantomData,
        })
    }

    /// Takes the service's `sched_lock`, which every change of the table needs.
    pub(crate) fn lock(&self) -> SchedGuard<'_, Writer<BITS>> {
        self.writer.lock()
    }

    /// The bucket of C's `hashkey()`, which is below `1 << BITS` = `SIZE`.
    fn bucket(&self, key: u32) -> &RcuList<E> {
        &self.buckets[key as usize]
    }

    /// The bucket of `addr`.
    fn bucket_of(&self, addr: &Addr) -> &RcuList<E> {
        self.bucket(match addr {
            Addr::V4(a) => R::hashkey_v4(*a),
            Addr::V6(a) => R::hashkey_v6(*a),
        })
    }

    /// The bucket of an entry's address, of the service's family.
    fn bucket_of_entry(&self, addr: &TargetAddr) -> &RcuList<E> {
        self.bucket(if self.ipv6 {
            R::hashkey_v6(addr.0)
        } else {
            R::hashkey_v4(*addr.v4())
        })
    }

    /// C's `get()`: the entry of `addr`, if any.
    pub(crate) fn get<'a>(&'a self, addr: &Addr, read_side: &'a impl ReadSide) -> Option<&'a E> {
        // One test of the family, then one comparison per entry: written out per family, as
        // the compiler does not take `TargetAddr::is`'s test out of the loop.
        match addr {
            Addr::V4(a) => self
                .bucket(R::hashkey_v4(*a))
                .iter(read_side)
                .find(|en| en.addr().v4() == a),
            Addr::V6(a) => self
                .bucket(R::hashkey_v6(*a))
                .iter(read_side)
                .find(|en| en.addr().0 == *a),
        }
    }

    /// Removes the entry of `addr` (freed after a grace period); whether there was one.
    pub(crate) fn remove(&self, writer: &SchedGuard<'_, Writer<BITS>>, addr: &Addr) -> bool {
        let removed = self
            .bucket_of(addr)
            .remove_first(writer, |en| en.addr().is(addr));
        if removed {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Adds `entry` unless the table holds `max_size * 3 / 2` entries already (C's check in
    /// `new()`) or memory is short (then, as in C, the target is just not cached).
    pub(crate) fn insert(&self, writer: &SchedGuard<'_, Writer<BITS>>, entry: E) {
        if !R::may_create(self.entries.load(Ordering::Relaxed)) {
            return;
        }
        if self
            .bucket_of_entry(entry.addr())
            .push_front(writer, entry)
            .is_ok()
        {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// C's `flush()`, from `done_service`: every entry goes (after a grace period, with the
    /// server references it holds), and none may be added any more.
    pub(crate) fn flush(&self) {
        let mut writer = self.writer.lock();
        writer.dead = true;
        for bucket in self.buckets.iter() {
            let removed = bucket.retain(&writer, |_| false);
            self.entries.fetch_sub(removed as i32, Ordering::Relaxed);
        }
    }

    /// C's `check_expire()`, from the service's timer: a full check every 30th run (entries
    /// idle for `expiration` jiffies, the sysctl), otherwise, when the table holds more than
    /// `max_size` entries, a sweep of entries idle for 6 minutes; both from the rover on.
    pub(crate) fn collect_garbage(
        &self,
        timer: &TimerContext,
        expiration: impl FnOnce() -> i32,
        now: usize,
    ) {
        let Some(mut sweep) = self
            .writer
            .lock_in_timer(timer)
            .gc
            .start(self.entries.load(Ordering::Relaxed))
        else {
            return;
        };
        let timeout = sweep.timeout(expiration(), HZ);
        while let Some(j) = sweep.next_bucket() {
            let writer = self.writer.lock_in_timer(timer);
            let removed = self.buckets[j].retain(&writer, |en| {
                !lblc::is_stale(now as _, en.lastuse().load(Ordering::Relaxed) as _, timeout)
            });
            // Most passes free nothing: no atomic read-modify-write then.
            if removed > 0 {
                self.entries.fetch_sub(removed as i32, Ordering::Relaxed);
                for _ in 0..removed {
                    sweep.removed();
                }
            }
        }
        self.writer.lock_in_timer(timer).gc.finish(sweep);
    }
}
