// SPDX-License-Identifier: GPL-2.0
//! The address hashing of the hashing schedulers (`ip_vs_dh.c`, `ip_vs_sh.c`, `ip_vs_mh.c`):
//! the fold of an address to 32 bits their `*_hashkey()` functions start with, and
//! `hash_32()` of `<linux/hash.h>`.
//!
//! Pure code, shared by `dh.rs`, `sh.rs` and `mh.rs`. (`lblc.rs` has its own copy of
//! `hash_32()`, older than this file.)
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `GOLDEN_RATIO_32` of `<linux/hash.h>`.
pub const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// `hash_32()` of `<linux/hash.h>` (the generic version, which x86 uses): the top `bits` bits
/// of `val * GOLDEN_RATIO_32` (mod 2^32).
///
/// `bits` must be in `1..=32` as in C (where other values are undefined behaviour); here they
/// give 0.
pub const fn hash_32(val: u32, bits: u32) -> u32 {
    match val
        .wrapping_mul(GOLDEN_RATIO_32)
        .checked_shr(32u32.wrapping_sub(bits))
    {
        Some(hash) if bits != 0 => hash,
        _ => 0,
    }
}

/// An address as IPVS stores it in a `union nf_inet_addr`, network byte order: a server's
/// address in its own family, or a packet's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// IPv4: the union's first word; its other words are zero (IPVS allocates a server
    /// zeroed and copies only the IPv4 word).
    V4([u8; 4]),
    /// IPv6: the whole union.
    V6([u8; 16]),
}

/// C's `addr_fold` after `ntohl()`: for a service of family `AF_INET6` (`svc_v6`), the XOR
/// of the four 32-bit words of the union (`ip6[0]^ip6[1]^ip6[2]^ip6[3]`), otherwise its
/// first word (`addr->ip`).
///
/// C folds by the *service's* family, also a server's address (mh): an IPv4 server of an IPv6
/// service folds to its address (the other words are zero), an IPv6 server of an IPv4 service
/// to the first word of its address.
pub const fn fold(svc_v6: bool, addr: Addr) -> u32 {
    match addr {
        Addr::V4(a) => u32::from_be_bytes(a),
        Addr::V6(a) => {
            // Constant indexes into a fixed-size array: checked at compile time.
            let first = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
            if !svc_v6 {
                return first;
            }
            first
                ^ u32::from_be_bytes([a[4], a[5], a[6], a[7]])
                ^ u32::from_be_bytes([a[8], a[9], a[10], a[11]])
                ^ u32::from_be_bytes([a[12], a[13], a[14], a[15]])
        }
    }
}

/// `is_unavailable()` of sh and mh: weight `<= 0` or overloaded (the weight read first; the
/// flags only when the weight is positive).
pub fn is_unavailable<L: ServerLoad>(load: &L) -> bool {
    load.weight() <= 0 || load.overloaded()
}

/// The lookup sh and mh share (`ip_vs_{sh,mh}_get()` and, with `fallback`,
/// `ip_vs_{sh,mh}_get_fallback()`): the server of bucket `bucket(0)` (`ihash`) if it is not
/// [`is_unavailable`]; with `fallback`, else the first usable server of the buckets
/// `bucket(roffset)` for `roffset = (offset + ihash) % table.len()`, `offset` in
/// `0..table.len()`. An empty bucket ends the search. `bucket(offset)` is the scheduler's
/// hash of the key with that offset, reduced to the table.
pub fn lookup<'a, T, L, F, H>(
    table: &'a [Option<T>],
    fallback: bool,
    bucket: H,
    load: F,
) -> Option<&'a T>
where
    L: ServerLoad,
    F: Fn(&'a T) -> L,
    H: Fn(u32) -> usize,
{
    let ihash = bucket(0);
    let dest = table.get(ihash)?.as_ref()?;
    if !is_unavailable(&load(dest)) {
        return Some(dest);
    }
    if !fallback {
        return None;
    }
    for offset in 0..table.len() {
        let roffset = (offset + ihash) % table.len();
        let dest = table.get(bucket(roffset as u32))?.as_ref()?;
        if !is_unavailable(&load(dest)) {
            return Some(dest);
        }
    }
    None
}
