// SPDX-License-Identifier: GPL-2.0
//! Source hashing, exactly as the kernel's `ip_vs_sh.c` hashes.
//!
//! A table of 256 buckets maps the hash of a connection's source address (and source port,
//! with the service flag `sh-port`) to a server: the servers fill the buckets in list order,
//! each as many consecutive buckets as its weight (at least one), wrapping around. A
//! connection gets its bucket's server if it has a positive weight and is not overloaded;
//! otherwise none ("no destination available") or, with the flag `sh-fallback`, the first
//! usable server of a walk around the table. The table is rebuilt when a server is added,
//! deleted or edited.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core`. The table belongs to the module ([`Table`]); this file fills it and
//! reads it. It uses its sibling modules `hash` and `wlc`.
#![forbid(unsafe_code)]

use super::hash::{fold, hash_32, lookup, Addr};
use super::wlc::ServerLoad;

/// `IP_VS_SH_TAB_BITS`: `CONFIG_IP_VS_SH_TAB_BITS=8` in the project's kernel configuration
/// (also C's default).
pub const TAB_BITS: u32 = 8;
/// `IP_VS_SH_TAB_SIZE`.
pub const TAB_SIZE: usize = 1 << TAB_BITS;
/// `IP_VS_SH_TAB_MASK`.
pub const TAB_MASK: usize = TAB_SIZE - 1;

/// `IP_VS_SVC_F_SCHED_SH_FALLBACK` (`IP_VS_SVC_F_SCHED1`) in the service's flags.
pub const SVC_F_SCHED_SH_FALLBACK: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED_SH_PORT` (`IP_VS_SVC_F_SCHED2`) in the service's flags.
pub const SVC_F_SCHED_SH_PORT: u32 = 0x0010;

/// C's `buckets[IP_VS_SH_TAB_SIZE]`: each bucket a server or none.
pub type Table<T> = [Option<T>; TAB_SIZE];

/// `ip_vs_sh_hashkey()`: `(offset + hash_32(port + fold, IP_VS_SH_TAB_BITS)) & MASK`, the
/// sum in `unsigned int` (wrapping). `port` in host byte order (C's `ntohs()`), 0 without
/// `sh-port`.
pub const fn hashkey(svc_v6: bool, addr: Addr, port: u16, offset: u32) -> usize {
    let hash = hash_32((port as u32).wrapping_add(fold(svc_v6, addr)), TAB_BITS);
    (offset.wrapping_add(hash) as usize) & TAB_MASK
}

pub use super::hash::is_unavailable;

/// `ip_vs_sh_reassign()`: fills every bucket from the servers `dests` gives (the service's
/// list, in list order, each with its load), every bucket `None` when the list is empty.
///
/// Like C: the server at the walk's place fills a bucket, and the walk moves on when the
/// count of buckets it filled in a row reaches its weight, read after each bucket (`++d_count
/// >= weight`: a weight of 0 or less fills one bucket); at the end of the list the walk
/// starts again from a clone of `dests`. The old items are dropped (C's `ip_vs_dest_put()`).
pub fn reassign<T, L, I>(table: &mut Table<T>, dests: I)
where
    T: Clone,
    L: ServerLoad,
    I: Iterator<Item = (T, L)> + Clone,
{
    let mut walk = dests.clone();
    let mut current: Option<(T, L)> = None;
    let mut d_count: i32 = 0;
    for bucket in table.iter_mut() {
        if current.is_none() {
            current = walk.next().or_else(|| {
                walk = dests.clone();
                walk.next()
            });
        }
        let Some((dest, load)) = &current else {
            // The list is empty.
            *bucket = None;
            continue;
        };
        *bucket = Some(dest.clone());
        d_count = d_count.wrapping_add(1);
        if d_count >= load.weight() {
            current = None;
            d_count = 0;
        }
    }
}

/// `ip_vs_sh_get()`: the server of the bucket of `addr` and `port`, if it is not
/// [`is_unavailable`].
pub fn get<'a, T, L, F>(
    table: &'a Table<T>,
    svc_v6: bool,
    addr: Addr,
    port: u16,
    load: F,
) -> Option<&'a T>
where
    L: ServerLoad,
    F: Fn(&'a T) -> L,
{
    lookup(
        table,
        false,
        |offset| hashkey(svc_v6, addr, port, offset),
        load,
    )
}

/// `ip_vs_sh_get_fallback()`: the server of the bucket of `addr` and `port` (`ihash`); if it is
/// unavailable, the first usable server of the buckets `(roffset + ihash) & MASK` for
/// `roffset = (offset + ihash) % TAB_SIZE`, `offset` in `0..TAB_SIZE` (C's walk, which
/// visits every bucket once, starting at `2 * ihash`). An empty bucket ends the search.
pub fn get_fallback<'a, T, L, F>(
    table: &'a Table<T>,
    svc_v6: bool,
    addr: Addr,
    port: u16,
    load: F,
) -> Option<&'a T>
where
    L: ServerLoad,
    F: Fn(&'a T) -> L,
{
    lookup(
        table,
        true,
        |offset| hashkey(svc_v6, addr, port, offset),
        load,
    )
}

/// `ip_vs_sh_schedule()` once the packet is read: `addr` is the packet's source address
/// (its destination for an ICMP error about a packet of the connection,
/// `ip_vs_iph_inverse()`), `port` the matching port when the service flags `svc_flags` have
/// [`SVC_F_SCHED_SH_PORT`] (C's `ip_vs_sh_get_port()`: 0 for a protocol other than TCP, UDP and
/// SCTP, or a packet too short), otherwise ignored; with [`SVC_F_SCHED_SH_FALLBACK`],
/// [`get_fallback`], else [`get`]. `None`: C logs "no destination available".
pub fn schedule<'a, T, L, F>(
    table: &'a Table<T>,
    svc_v6: bool,
    svc_flags: u32,
    addr: Addr,
    port: u16,
    load: F,
) -> Option<&'a T>
where
    L: ServerLoad,
    F: Fn(&'a T) -> L,
{
    let port = if svc_flags & SVC_F_SCHED_SH_PORT != 0 {
        port
    } else {
        0
    };
    if svc_flags & SVC_F_SCHED_SH_FALLBACK != 0 {
        get_fallback(table, svc_v6, addr, port, load)
    } else {
        get(table, svc_v6, addr, port, load)
    }
}
