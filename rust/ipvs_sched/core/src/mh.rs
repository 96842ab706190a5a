// SPDX-License-Identifier: GPL-2.0
//! Maglev hashing, exactly as the kernel's `ip_vs_mh.c` hashes (Eisenbud et al., "Maglev: A
//! Fast and Reliable Software Network Load Balancer", NSDI 2016, section 3.4).
//!
//! Each server has a preference list of the table's buckets, a permutation drawn from its
//! address and port: start at `offset`, step by `skip` (both from `hsiphash()` with fixed
//! keys, the table size being prime). The servers take turns, in list order, each claiming
//! its next preferred bucket not yet taken (as many per turn as its weight divided by the
//! gcd of the weights, scaled down to at most 6 bits), until all 4093 buckets are taken. A
//! connection gets the server of the bucket of `hsiphash(source address + port)`, if that
//! server has a positive weight and is not overloaded; otherwise none or, with the flag
//! `mh-fallback`, the first usable server of a walk of rehashes. Adding or removing a server
//! moves few buckets of the others. The weights used to build the table are the servers'
//! last non-zero weights (`last_weight`), so quiescing a server (weight 0) keeps its buckets.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core`. The table and the per-server scratch belong to the module ([`Table`],
//! [`DestSetup`]); this file fills the table and reads it. It uses its sibling modules `hash`,
//! `siphash` and `wlc`.
#![forbid(unsafe_code)]

use super::hash::{fold, lookup, Addr};
use super::siphash::{hsiphash_1u32, Key};
use super::wlc::ServerLoad;

/// `primes[]`: the table sizes `CONFIG_IP_VS_MH_TAB_INDEX` (8 to 17) selects.
pub const PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];
/// `CONFIG_IP_VS_MH_TAB_INDEX=12` in the project's kernel configuration (also C's default).
pub const CONFIG_TAB_INDEX: usize = 12;
/// `IP_VS_MH_TAB_BITS`: the bits a server's turns are scaled down to.
pub const TAB_BITS: i32 = (CONFIG_TAB_INDEX / 2) as i32;
/// `IP_VS_MH_TAB_SIZE`: `primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]`, 4093.
pub const TAB_SIZE: usize = PRIMES[CONFIG_TAB_INDEX - 8] as usize;

/// `generate_hash_secret()`'s `hash1`: the key of the lookup and of the permutations' offsets
/// (`2654435761UL` in both `unsigned long` words).
pub const HASH1: Key = [2_654_435_761, 2_654_435_761];
/// `generate_hash_secret()`'s `hash2`: the key of the permutations' skips.
pub const HASH2: Key = [2_654_446_892, 2_654_446_892];

/// `IP_VS_SVC_F_SCHED_MH_FALLBACK` (`IP_VS_SVC_F_SCHED1`) in the service's flags.
pub const SVC_F_SCHED_MH_FALLBACK: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED_MH_PORT` (`IP_VS_SVC_F_SCHED2`) in the service's flags.
pub const SVC_F_SCHED_MH_PORT: u32 = 0x0010;

/// C's `lookup[IP_VS_MH_TAB_SIZE]`: each bucket a server or none.
pub type Table<T> = [Option<T>; TAB_SIZE];

/// Words of the bitmap of the buckets taken during a fill (C's `bitmap_zalloc()`).
const BITMAP_WORDS: usize = TAB_SIZE.div_ceil(64);

/// What mh reads of a server to place it in the table.
pub trait MhDest {
    /// `ip_vs_dest.last_weight`: the last weight the server was given that was not 0 (0 for
    /// a server added with weight 0 and never given another).
    fn last_weight(&self) -> i32;
    /// `ip_vs_dest.addr` (fixed for the server's life).
    fn addr(&self) -> Addr;
    /// `ip_vs_dest.port`, host byte order (fixed for the server's life).
    fn port(&self) -> u16;
}

impl<D: MhDest + ?Sized> MhDest for &D {
    fn last_weight(&self) -> i32 {
        (**self).last_weight()
    }
    fn addr(&self) -> Addr {
        (**self).addr()
    }
    fn port(&self) -> u16 {
        (**self).port()
    }
}

/// `struct ip_vs_mh_dest_setup`: one server's place in its permutation during a fill. The
/// caller provides one per server ([`reassign`]); the values left in it mean nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestSetup {
    /// The first bucket of its permutation.
    pub offset: u32,
    /// The step of its permutation, in `1..TAB_SIZE`.
    pub skip: u32,
    /// Its next preferred bucket.
    pub perm: u32,
    /// Buckets it takes per turn: `weight / gcd >> rshift`, at least 1 for a non-zero weight.
    pub turns: i32,
}

/// Why [`reassign`] refused, leaving the table as it was (C's `-EINVAL`, except
/// [`Error::SetupTooSmall`], which C, allocating the scratch, cannot meet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// More servers than buckets (`svc->num_dests > IP_VS_MH_TAB_SIZE`).
    TooManyDests,
    /// The caller's scratch has fewer entries than there are servers.
    SetupTooSmall,
}

/// `ip_vs_mh_hashkey()`: `hsiphash()` of the `unsigned int` `offset + port + fold(addr)`
/// (wrapping) with `key`. `port` in host byte order (C's `ntohs()`).
pub const fn hashkey(svc_v6: bool, addr: Addr, port: u16, key: &Key, offset: u32) -> u32 {
    let v = offset
        .wrapping_add(port as u32)
        .wrapping_add(fold(svc_v6, addr));
    hsiphash_1u32(v, key)
}

/// `gcd()` of `lib/math/gcd.c` (on `unsigned long`; the gcd is unique, so Euclid's algorithm
/// gives the same value).
const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

/// `ip_vs_mh_gcd_weight()`: the gcd of the positive `last_weight`s, 0 when there is none.
pub fn gcd_weight<I: IntoIterator<Item = i32>>(weights: I) -> i32 {
    let mut g: i32 = 0;
    for weight in weights {
        if weight > 0 {
            // Both positive: the gcd is positive and fits in an `int`, as in C.
            g = if g > 0 {
                gcd(weight as u32, g as u32) as i32
            } else {
                weight
            };
        }
    }
    g
}

/// `fls()`: the position of the highest bit set, 1-based; 0 for 0.
const fn fls(x: u32) -> i32 {
    32 - x.leading_zeros() as i32
}

/// `ip_vs_mh_shift_weight()`: how far to shift `weight / gcd` right so that the largest fits in
/// [`TAB_BITS`] bits, `fls(max / gcd) - TAB_BITS` but at least 0; 0 when `gcd < 1`.
pub fn shift_weight<I: IntoIterator<Item = i32>>(weights: I, gcd: i32) -> i32 {
    if gcd < 1 {
        return 0;
    }
    let mut weight = 0;
    for new_weight in weights {
        if new_weight > weight {
            weight = new_weight;
        }
    }
    // weight >= 0 and gcd >= 1: no overflow, mw >= 0.
    let mw = weight.checked_div(gcd).unwrap_or(0);
    let shift = fls(mw as u32) - TAB_BITS;
    if shift >= 0 {
        shift
    } else {
        0
    }
}

/// The turns of a server of last weight `lw`: `((lw / gcd) >> rshift) ?: (lw != 0)` (`int`
/// division and arithmetic shift, as C on gcc). `gcd >= 1`.
fn turns(lw: i32, gcd: i32, rshift: i32) -> i32 {
    let t = lw
        .checked_div(gcd)
        .unwrap_or(0)
        .checked_shr(rshift as u32)
        .unwrap_or(0);
    if t != 0 {
        t
    } else {
        i32::from(lw != 0)
    }
}

/// `ip_vs_mh_dest_changed()` and the table part of `ip_vs_mh_init_svc()`: the gcd and shift
/// of the servers' last weights ([`gcd_weight`], [`shift_weight`]), then
/// `ip_vs_mh_reassign()`: permutations (`ip_vs_mh_permutate()`) and the fill
/// (`ip_vs_mh_populate()`) of every bucket.
///
/// `dests` gives the service's servers in list order, each as the item the table keeps and
/// what mh reads of it; it is walked once per C loop (three walks that read, then one per
/// round of turns). `setup` is the scratch C allocates, one entry per server.
///
/// Like C: more servers than [`TAB_SIZE`] is an error and the table is left as it was. When
/// no last weight is positive (`gcd < 1`, also for no server) every bucket is emptied.
/// Otherwise each server gets `offset = hashkey(HASH1) % TAB_SIZE`, `skip = hashkey(HASH2) %
/// (TAB_SIZE - 1) + 1` and its turns; then the servers, in list order and round after
/// round, take their turns, each turn the next bucket of the server's permutation not yet
/// taken in this fill, until every bucket is taken. Buckets not taken keep nothing of the
/// old table: all are taken. The old items are dropped (C's `ip_vs_dest_put()`).
///
/// One difference, for a case C cannot meet (the last weights change between C's loops,
/// which C's configuration mutex prevents): should a round take no bucket, C would loop
/// forever; this empties the table instead.
pub fn reassign<T, D, I>(
    table: &mut Table<T>,
    setup: &mut [DestSetup],
    svc_v6: bool,
    dests: I,
) -> Result<(), Error>
where
    T: Clone,
    D: MhDest,
    I: Iterator<Item = (T, D)> + Clone,
{
    let gcd = gcd_weight(dests.clone().map(|(_, d)| d.last_weight()));
    let rshift = shift_weight(dests.clone().map(|(_, d)| d.last_weight()), gcd);
    let num_dests = dests.clone().count();
    if num_dests > TAB_SIZE {
        return Err(Error::TooManyDests);
    }
    if gcd < 1 {
        table.iter_mut().for_each(|bucket| *bucket = None);
        return Ok(());
    }
    let setup = setup.get_mut(..num_dests).ok_or(Error::SetupTooSmall)?;
    permutate(setup, svc_v6, dests.clone(), gcd, rshift);
    if !populate(table, setup, dests) {
        table.iter_mut().for_each(|bucket| *bucket = None);
    }
    Ok(())
}

/// `ip_vs_mh_permutate()` (`gcd >= 1`): each server's offset, skip, first preference and turns.
fn permutate<T, D, I>(setup: &mut [DestSetup], svc_v6: bool, dests: I, gcd: i32, rshift: i32)
where
    D: MhDest,
    I: Iterator<Item = (T, D)>,
{
    for ((_, dest), ds) in dests.zip(setup.iter_mut()) {
        let (addr, port) = (dest.addr(), dest.port());
        ds.offset = hashkey(svc_v6, addr, port, &HASH1, 0) % TAB_SIZE as u32;
        ds.skip = hashkey(svc_v6, addr, port, &HASH2, 0) % (TAB_SIZE as u32 - 1) + 1;
        ds.perm = ds.offset;
        ds.turns = turns(dest.last_weight(), gcd, rshift);
    }
}

/// `ip_vs_mh_populate()` (`gcd >= 1`): takes every bucket; false if a round took none.
fn populate<T, D, I>(table: &mut Table<T>, setup: &mut [DestSetup], dests: I) -> bool
where
    T: Clone,
    I: Iterator<Item = (T, D)> + Clone,
{
    let mut taken = [0u64; BITMAP_WORDS];
    let is_taken = |taken: &[u64; BITMAP_WORDS], c: u32| {
        taken
            .get(c as usize / 64)
            .is_some_and(|w| w & (1 << (c % 64)) != 0)
    };
    let mut n = 0;
    loop {
        let before = n;
        for ((dest, _), ds) in dests.clone().zip(setup.iter_mut()) {
            // C ignores a server with no turns (added with weight 0).
            if ds.turns < 1 {
                continue;
            }
            let mut dt_count = 0;
            loop {
                let mut c = ds.perm;
                while is_taken(&taken, c) {
                    // Add skip, mod IP_VS_MH_TAB_SIZE.
                    ds.perm += ds.skip;
                    if ds.perm >= TAB_SIZE as u32 {
                        ds.perm -= TAB_SIZE as u32;
                    }
                    c = ds.perm;
                }
                // `c < TAB_SIZE` (offset and skip are reduced mod TAB_SIZE).
                if let Some(w) = taken.get_mut(c as usize / 64) {
                    *w |= 1 << (c % 64);
                }
                if let Some(bucket) = table.get_mut(c as usize) {
                    *bucket = Some(dest.clone());
                }
                n += 1;
                if n == TAB_SIZE {
                    return true;
                }
                dt_count += 1;
                if dt_count >= ds.turns {
                    break;
                }
            }
        }
        if n == before {
            return false;
        }
    }
}

pub use super::hash::is_unavailable;

/// `ip_vs_mh_get()`: the server of bucket `hashkey(addr, port, HASH1, 0) % TAB_SIZE`, if it
/// is not [`is_unavailable`].
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
        |offset| hashkey(svc_v6, addr, port, &HASH1, offset) as usize % TAB_SIZE,
        load,
    )
}

/// `ip_vs_mh_get_fallback()`: the server of the bucket of `addr` and `port` (`ihash`); if it is
/// unavailable, the first usable server of the buckets `hashkey(addr, port, HASH1, roffset) %
/// TAB_SIZE` for `roffset = (offset + ihash) % TAB_SIZE`, `offset` in `0..TAB_SIZE`. An empty
/// bucket ends the search.
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
        |offset| hashkey(svc_v6, addr, port, &HASH1, offset) as usize % TAB_SIZE,
        load,
    )
}

/// `ip_vs_mh_schedule()` once the packet is read: `addr` is the packet's source address (its
/// destination for an ICMP error about a packet of the connection, `ip_vs_iph_inverse()`),
/// `port` the matching port when the service flags `svc_flags` have
/// [`SVC_F_SCHED_MH_PORT`] (C's `ip_vs_mh_get_port()`: 0 for a protocol other than TCP, UDP and
/// SCTP, or a packet too short), otherwise ignored; with [`SVC_F_SCHED_MH_FALLBACK`],
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
    let port = if svc_flags & SVC_F_SCHED_MH_PORT != 0 {
        port
    } else {
        0
    };
    if svc_flags & SVC_F_SCHED_MH_FALLBACK != 0 {
        get_fallback(table, svc_v6, addr, port, load)
    } else {
        get(table, svc_v6, addr, port, load)
    }
}
