// SPDX-License-Identifier: GPL-2.0
//! Destination hashing, exactly as the kernel's `ip_vs_dh.c` hashes.
//!
//! A table of 256 buckets maps the hash of a connection's destination address to a server:
//! bucket `i` holds the `i`-th server of the list, wrapping around (weights do not matter).
//! A connection gets its bucket's server if that server is still in the service, has a
//! positive weight and is not overloaded; otherwise no server ("no destination available").
//! The table is rebuilt when a server is added or deleted (not when one is edited).
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core`. The table belongs to the module ([`Table`]); this file fills it and
//! reads it. It uses its sibling modules `hash` and `wlc`.
#![forbid(unsafe_code)]

use super::hash::{fold, hash_32, Addr};
use super::wlc::ServerLoad;

/// `IP_VS_DH_TAB_BITS`: `CONFIG_IP_VS_DH_TAB_BITS` has no Kconfig entry in Linux 6.12, so
/// C's default of 8 always applies.
pub const TAB_BITS: u32 = 8;
/// `IP_VS_DH_TAB_SIZE`.
pub const TAB_SIZE: usize = 1 << TAB_BITS;
/// `IP_VS_DH_TAB_MASK`.
pub const TAB_MASK: usize = TAB_SIZE - 1;

/// C's `buckets[IP_VS_DH_TAB_SIZE]`: each bucket a server or none.
pub type Table<T> = [Option<T>; TAB_SIZE];

/// `ip_vs_dh_hashkey()`: the bucket of a destination address `addr` for a service of family
/// IPv6 (`svc_v6`) or IPv4, `hash_32(fold, IP_VS_DH_TAB_BITS)`, in `0..TAB_SIZE`.
pub const fn hashkey(svc_v6: bool, addr: Addr) -> usize {
    hash_32(fold(svc_v6, addr), TAB_BITS) as usize
}

/// `ip_vs_dh_reassign()`: fills every bucket, `table[i]` getting the `i % n`-th of the `n`
/// servers `dests` gives (the service's list, in list order); every bucket is `None` when
/// the list is empty. Each bucket gets an item of its own from the walk (C holds a
/// reference per bucket); the walk is started again from a clone at the end of the list.
/// The old items are dropped (C's `ip_vs_dest_put()`).
pub fn reassign<T, I>(table: &mut Table<T>, dests: I)
where
    I: Iterator<Item = T> + Clone,
{
    let mut walk = dests.clone();
    for bucket in table.iter_mut() {
        *bucket = match walk.next() {
            Some(dest) => Some(dest),
            None => {
                walk = dests.clone();
                walk.next()
            }
        };
    }
}

/// `ip_vs_dh_schedule()` once the bucket is read (`table[hashkey(..)]`, with the server's
/// load): its server, if any and if it is available, has a positive weight and is not
/// overloaded (read in that order, as C); otherwise `None` (C logs "no destination
/// available").
pub fn pick<T, L: ServerLoad>(bucket: Option<(T, L)>) -> Option<T> {
    let (dest, load) = bucket?;
    if !load.available() || load.weight() <= 0 || load.overloaded() {
        return None;
    }
    Some(dest)
}

/// The whole of `ip_vs_dh_schedule()`: the server for a connection to `daddr` on a service
/// of family IPv6 (`svc_v6`) or IPv4, `load` reading a bucket's server.
pub fn schedule<'a, T, L, F>(
    table: &'a Table<T>,
    svc_v6: bool,
    daddr: Addr,
    load: F,
) -> Option<&'a T>
where
    L: ServerLoad,
    F: Fn(&'a T) -> L,
{
    let bucket = table.get(hashkey(svc_v6, daddr))?.as_ref();
    pick(bucket.map(|dest| (dest, load(dest))))
}
