// SPDX-License-Identifier: GPL-2.0
//! SipHash of `lib/siphash.c`, as the kernel computes it on a 64-bit machine: `siphash()`
//! (SipHash-2-4) and `hsiphash()`, which on 64-bit is SipHash-1-3 with a key of two
//! `unsigned long` words and the low 32 bits of the result (on 32-bit it would be
//! HalfSipHash-1-3: not this). mh hashes with `hsiphash()`.
//!
//! Pure code, used by `mh.rs`; checked against the test vectors of `lib/siphash_kunit.c`.
#![forbid(unsafe_code)]

/// `siphash_key_t`, and `hsiphash_key_t` on 64-bit: `key[0]`, `key[1]`.
pub type Key = [u64; 2];

const CONST_0: u64 = 0x736f_6d65_7073_6575;
const CONST_1: u64 = 0x646f_7261_6e64_6f6d;
const CONST_2: u64 = 0x6c79_6765_6e65_7261;
const CONST_3: u64 = 0x7465_6462_7974_6573;

/// `SIPHASH_PERMUTATION` of `<linux/siphash.h>`.
const fn round(v: [u64; 4]) -> [u64; 4] {
    let [mut a, mut b, mut c, mut d] = v;
    a = a.wrapping_add(b);
    b = b.rotate_left(13);
    b ^= a;
    a = a.rotate_left(32);
    c = c.wrapping_add(d);
    d = d.rotate_left(16);
    d ^= c;
    a = a.wrapping_add(d);
    d = d.rotate_left(21);
    d ^= a;
    c = c.wrapping_add(b);
    b = b.rotate_left(17);
    b ^= c;
    c = c.rotate_left(32);
    [a, b, c, d]
}

const fn rounds(mut v: [u64; 4], n: u32) -> [u64; 4] {
    let mut i = 0;
    while i < n {
        v = round(v);
        i += 1;
    }
    v
}

/// SipHash-`c`-`d` of `data` (`c` rounds per word, `d` final rounds), as `PREAMBLE`, the
/// word loop, the tail `switch` and `POSTAMBLE` of `lib/siphash.c` compute it (little-endian
/// words, the length in the top byte of the last one).
fn sip(data: &[u8], key: &Key, c: u32, d: u32) -> u64 {
    let mut v = [
        CONST_0 ^ key[0],
        CONST_1 ^ key[1],
        CONST_2 ^ key[0],
        CONST_3 ^ key[1],
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = u64::from_le_bytes(word);
        v[3] ^= m;
        v = rounds(v, c);
        v[0] ^= m;
    }
    let mut b = (data.len() as u64) << 56;
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        b |= u64::from(byte) << (8 * i);
    }
    finish(v, b, c, d)
}

/// The last word `b` and `POSTAMBLE` (`HPOSTAMBLE` for `c` = 1).
const fn finish(mut v: [u64; 4], b: u64, c: u32, d: u32) -> u64 {
    v[3] ^= b;
    v = rounds(v, c);
    v[0] ^= b;
    v[2] ^= 0xff;
    v = rounds(v, d);
    (v[0] ^ v[1]) ^ (v[2] ^ v[3])
}

/// `siphash(data, len, key)`: SipHash-2-4.
pub fn siphash(data: &[u8], key: &Key) -> u64 {
    sip(data, key, 2, 4)
}

/// `hsiphash(data, len, key)` on a 64-bit kernel: SipHash-1-3, truncated to `u32` as C's
/// `return` does.
pub fn hsiphash(data: &[u8], key: &Key) -> u32 {
    sip(data, key, 1, 3) as u32
}

/// `hsiphash_1u32(first, key)` on 64-bit, the same as [`hsiphash`] of the four bytes of
/// `first` in little-endian order, which is what `hsiphash(&v, sizeof(v), key)` hashes on
/// x86 for an `unsigned int v` (mh's case).
pub const fn hsiphash_1u32(first: u32, key: &Key) -> u32 {
    let v = [
        CONST_0 ^ key[0],
        CONST_1 ^ key[1],
        CONST_2 ^ key[0],
        CONST_3 ^ key[1],
    ];
    finish(v, (4u64 << 56) | first as u64, 1, 3) as u32
}
