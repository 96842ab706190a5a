// SPDX-License-Identifier: GPL-2.0 OR MIT
//! Unit tests of `src/hash.rs`: the RSS verification vectors, the CRC-16 check value, and the
//! private helpers behind them (hence a child module of `hash`, not a `tests/` target).
//!
//! Outside `src/` because the kernel module includes `src/hash.rs` by path.

use super::*;
use core::net::{Ipv4Addr, Ipv6Addr};

/// One row of the official RSS verification tables: `(dst, dport, src, sport, 2-tuple
/// hash, 4-tuple hash)`.
type Vector<'a> = (&'a str, u16, &'a str, u16, u32, u32);

const IPV4_VECTORS: [Vector<'static>; 5] = [
    (
        "161.142.100.80",
        1766,
        "66.9.149.187",
        2794,
        0x323e_8fc2,
        0x51cc_c178,
    ),
    (
        "65.69.140.83",
        4739,
        "199.92.111.2",
        14230,
        0xd718_262a,
        0xc626_b0ea,
    ),
    (
        "12.22.207.184",
        38024,
        "24.19.198.95",
        12898,
        0xd2d0_a5de,
        0x5c2b_394a,
    ),
    (
        "209.142.163.6",
        2217,
        "38.27.205.30",
        48228,
        0x8298_9176,
        0xafc7_327f,
    ),
    (
        "202.188.127.2",
        1303,
        "153.39.163.191",
        44251,
        0x5d18_09c5,
        0x10e8_28a2,
    ),
];

const IPV6_VECTORS: [Vector<'static>; 3] = [
    (
        "3ffe:2501:200:3::1",
        1766,
        "3ffe:2501:200:1fff::7",
        2794,
        0x2cc1_8cd5,
        0x4020_7d3d,
    ),
    (
        "ff02::1",
        4739,
        "3ffe:501:8::260:97ff:fe40:efab",
        14230,
        0x0f0c_461c,
        0xdde5_1bbf,
    ),
    (
        "fe80::200:f8ff:fe21:67cf",
        38024,
        "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
        44251,
        0x4b61_e985,
        0x02d1_feef,
    ),
];

fn v4((dst, dport, src, sport, ..): Vector<'_>) -> FlowKey {
    let src = src.parse::<Ipv4Addr>().unwrap().octets();
    let dst = dst.parse::<Ipv4Addr>().unwrap().octets();
    FlowKey::V4 {
        src,
        dst,
        sport,
        dport,
    }
}

fn v6((dst, dport, src, sport, ..): Vector<'_>) -> FlowKey {
    let src = src.parse::<Ipv6Addr>().unwrap().octets();
    let dst = dst.parse::<Ipv6Addr>().unwrap().octets();
    FlowKey::V6 {
        src,
        dst,
        sport,
        dport,
    }
}

/// Checks both Toeplitz implementations on a vector's 2-tuple and 4-tuple.
fn check(key: FlowKey, two: u32, four: u32) {
    let pair = key.input_bytes(HashInput::ClientServerAddr);
    let quad = key.input_bytes(HashInput::FourTuple);
    assert_eq!(
        toeplitz_reference(&RSS_KEY, pair.as_slice()),
        two,
        "{key:?}"
    );
    assert_eq!(
        toeplitz_reference(&RSS_KEY, quad.as_slice()),
        four,
        "{key:?}"
    );
    assert_eq!(toeplitz(pair.as_slice()), two, "{key:?}");
    assert_eq!(toeplitz(quad.as_slice()), four, "{key:?}");
}

#[test]
fn toeplitz_ipv4_rss_vectors() {
    for vector in IPV4_VECTORS {
        check(v4(vector), vector.4, vector.5);
    }
}

#[test]
fn toeplitz_ipv6_rss_vectors() {
    for vector in IPV6_VECTORS {
        check(v6(vector), vector.4, vector.5);
    }
}

#[test]
fn runtime_table_equals_compile_time_table() {
    assert_eq!(ToeplitzTable::new(&RSS_KEY), RSS_TOEPLITZ);
}

#[test]
fn key_window_reads_across_bytes_and_past_the_end() {
    assert_eq!(key_window(&RSS_KEY, 0), 0x6d5a_56da);
    assert_eq!(key_window(&RSS_KEY, 8), 0x5a56_da25);
    assert_eq!(key_window(&RSS_KEY, 4), 0xd5a5_6da2);
    assert_eq!(key_window(&RSS_KEY, 288), 0xbeac_01fa);
    assert_eq!(key_window(&RSS_KEY, 296), 0xac01_fa00);
}

#[test]
fn crc16_xmodem_check_value() {
    assert_eq!(crc16(0, b"123456789"), 0x31c3);
    // Continuing a running CRC equals hashing the concatenation.
    assert_eq!(crc16(crc16(0, b"1234"), b"56789"), 0x31c3);
    assert_eq!(crc16(0, b""), 0);
}

#[test]
fn input_bytes_layout() {
    let key = v4(IPV4_VECTORS[0]);
    let expected = [66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6];
    assert_eq!(
        key.input_bytes(HashInput::ClientAddr).as_slice(),
        &expected[..4]
    );
    assert_eq!(
        key.input_bytes(HashInput::ClientServerAddr).as_slice(),
        &expected[..8]
    );
    assert_eq!(
        key.input_bytes(HashInput::FourTuple).as_slice(),
        &expected[..]
    );
    let key = v6(IPV6_VECTORS[0]);
    assert_eq!(key.input_bytes(HashInput::ClientAddr).as_slice().len(), 16);
    assert_eq!(
        key.input_bytes(HashInput::ClientServerAddr)
            .as_slice()
            .len(),
        32
    );
    assert_eq!(
        key.input_bytes(HashInput::FourTuple).as_slice().len(),
        MAX_INPUT_LEN
    );
}
