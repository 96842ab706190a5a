//! The flow hashes through their public API: the official RSS vectors end to end, the
//! table-driven Toeplitz against the bit-by-bit reference, CRC16 against a bitwise model, and
//! the per-client persistence that `HashInput::ClientAddr` promises.

use proptest::prelude::*;
use sock_level_hash_core::hash::{
    crc16, toeplitz, toeplitz_reference, xor_fold, FlowKey, HashFn, HashInput, InvalidValue,
    ToeplitzTable, IPPROTO_TCP, MAX_INPUT_LEN, RSS_KEY, RSS_TOEPLITZ,
};
use std::net::{Ipv4Addr, Ipv6Addr};

const ALL_FNS: [HashFn; 5] = [
    HashFn::Toeplitz,
    HashFn::SrcIpMod,
    HashFn::XorFoldSrc,
    HashFn::XorFoldSrcDst,
    HashFn::Crc16,
];
const ALL_INPUTS: [HashInput; 3] = [
    HashInput::ClientAddr,
    HashInput::ClientServerAddr,
    HashInput::FourTuple,
];

fn v4(src: &str, sport: u16, dst: &str, dport: u16) -> FlowKey {
    let src = src.parse::<Ipv4Addr>().unwrap().octets();
    let dst = dst.parse::<Ipv4Addr>().unwrap().octets();
    FlowKey::V4 {
        src,
        dst,
        sport,
        dport,
    }
}

fn v6(src: &str, sport: u16, dst: &str, dport: u16) -> FlowKey {
    let src = src.parse::<Ipv6Addr>().unwrap().octets();
    let dst = dst.parse::<Ipv6Addr>().unwrap().octets();
    FlowKey::V6 {
        src,
        dst,
        sport,
        dport,
    }
}

/// The Microsoft/Intel verification vectors, through `HashFn::hash` as the kernel calls it.
#[test]
fn rss_vectors_through_hash_fn() {
    let vectors = [
        (
            v4("66.9.149.187", 2794, "161.142.100.80", 1766),
            0x323e_8fc2,
            0x51cc_c178,
        ),
        (
            v4("199.92.111.2", 14230, "65.69.140.83", 4739),
            0xd718_262a,
            0xc626_b0ea,
        ),
        (
            v4("24.19.198.95", 12898, "12.22.207.184", 38024),
            0xd2d0_a5de,
            0x5c2b_394a,
        ),
        (
            v4("38.27.205.30", 48228, "209.142.163.6", 2217),
            0x8298_9176,
            0xafc7_327f,
        ),
        (
            v4("153.39.163.191", 44251, "202.188.127.2", 1303),
            0x5d18_09c5,
            0x10e8_28a2,
        ),
        (
            v6("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766),
            0x2cc1_8cd5,
            0x4020_7d3d,
        ),
        (
            v6("3ffe:501:8::260:97ff:fe40:efab", 14230, "ff02::1", 4739),
            0x0f0c_461c,
            0xdde5_1bbf,
        ),
        (
            v6(
                "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
                44251,
                "fe80::200:f8ff:fe21:67cf",
                38024,
            ),
            0x4b61_e985,
            0x02d1_feef,
        ),
    ];
    for (key, two, four) in vectors {
        assert_eq!(
            HashFn::Toeplitz.hash(&key, HashInput::ClientServerAddr),
            two,
            "{key:?}"
        );
        assert_eq!(
            HashFn::Toeplitz.hash(&key, HashInput::FourTuple),
            four,
            "{key:?}"
        );
        for input in [HashInput::ClientServerAddr, HashInput::FourTuple] {
            let bytes = key.input_bytes(input);
            assert_eq!(
                toeplitz_reference(&RSS_KEY, bytes.as_slice()),
                toeplitz(bytes.as_ref())
            );
        }
    }
}

#[test]
fn uapi_numbers_are_stable() {
    for (number, f) in (0u32..).zip(ALL_FNS) {
        assert_eq!(f as u32, number);
        assert_eq!(HashFn::try_from(number), Ok(f));
    }
    for (number, input) in (0u32..).zip(ALL_INPUTS) {
        assert_eq!(input as u32, number);
        assert_eq!(HashInput::try_from(number), Ok(input));
    }
    assert_eq!(HashFn::try_from(5), Err(InvalidValue(5)));
    assert_eq!(HashInput::try_from(3), Err(InvalidValue(3)));
    assert_eq!(HashFn::try_from(u32::MAX), Err(InvalidValue(u32::MAX)));
    assert_eq!(HashFn::default(), HashFn::Toeplitz);
    assert_eq!(HashInput::default(), HashInput::ClientAddr);
}

#[test]
fn src_ip_mod_and_xor_folds_follow_the_paper() {
    let key = v4("10.1.2.3", 1000, "192.168.0.1", 80);
    assert_eq!(
        HashFn::SrcIpMod.hash(&key, HashInput::FourTuple),
        0x0a01_0203
    );
    assert_eq!(
        HashFn::XorFoldSrc.hash(&key, HashInput::FourTuple),
        u32::from(10u8 ^ 1 ^ 2 ^ 3)
    );
    assert_eq!(
        HashFn::XorFoldSrcDst.hash(&key, HashInput::ClientAddr),
        u32::from(10u8 ^ 1 ^ 2 ^ 3 ^ 192 ^ 168 ^ 1)
    );
    let key = v6("2001:db8::1:2:3:4", 1000, "2001:db8::80", 80);
    // IPv6: the low 32 bits of the address; the folds take all 16 bytes.
    assert_eq!(
        HashFn::SrcIpMod.hash(&key, HashInput::ClientAddr),
        0x0003_0004
    );
    assert_eq!(
        HashFn::XorFoldSrc.hash(&key, HashInput::ClientAddr),
        u32::from(0x20u8 ^ 0x01 ^ 0x0d ^ 0xb8 ^ 0x01 ^ 0x02 ^ 0x03 ^ 0x04)
    );
    // The /32 prefixes cancel; left: 0x01 ^ 0x02 ^ 0x03 ^ 0x04 from the client (0x04) and
    // 0x80 from the server.
    assert_eq!(
        HashFn::XorFoldSrcDst.hash(&key, HashInput::ClientAddr),
        0x84
    );
}

/// CRC-16/XMODEM bit by bit, straight from the definition (polynomial 0x1021, most
/// significant bit first).
fn crc16_bitwise(mut crc: u16, data: &[u8]) -> u16 {
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// What the variant was chosen for: the last byte of a client address alone reaches every
/// value of the low byte of the CRC (the queue is taken from the low bits), whatever the
/// bytes before it.
#[test]
fn crc16_low_byte_is_a_bijection_of_the_last_byte() {
    for prefix in [[10u8, 1, 2], [192, 168, 0], [55, 226, 42]] {
        let mut seen = [false; 256];
        for last in 0..=255u8 {
            let crc = crc16(0, &[prefix[0], prefix[1], prefix[2], last]);
            seen[usize::from(crc as u8)] = true;
        }
        assert!(seen.iter().all(|&s| s), "prefix {prefix:?}");
    }
}

#[test]
fn crc16_is_xmodem_and_covers_the_five_tuple() {
    assert_eq!(crc16(0, b"123456789"), 0x31c3);
    assert_eq!(crc16_bitwise(0, b"123456789"), 0x31c3);
    let key = v4("10.1.2.3", 1000, "192.168.0.1", 80);
    let four = key.input_bytes(HashInput::FourTuple);
    let mut five = four.as_slice().to_vec();
    five.push(IPPROTO_TCP);
    assert_eq!(
        HashFn::Crc16.hash(&key, HashInput::FourTuple),
        u32::from(crc16_bitwise(0, &five))
    );
    assert_eq!(
        HashFn::Crc16.hash(&key, HashInput::ClientAddr),
        u32::from(crc16_bitwise(0, &[10, 1, 2, 3]))
    );
}

fn any_key() -> impl Strategy<Value = FlowKey> {
    prop_oneof![
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(src, dst, sport, dport)| FlowKey::V4 {
                src,
                dst,
                sport,
                dport
            }),
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(src, dst, sport, dport)| FlowKey::V6 {
                src,
                dst,
                sport,
                dport
            }),
    ]
}

/// The same client seen at another server address and from another port.
fn elsewhere(key: FlowKey, other: FlowKey) -> FlowKey {
    match (key, other) {
        (
            FlowKey::V4 { src, .. },
            FlowKey::V4 {
                dst, sport, dport, ..
            },
        ) => FlowKey::V4 {
            src,
            dst,
            sport,
            dport,
        },
        (
            FlowKey::V6 { src, .. },
            FlowKey::V6 {
                dst, sport, dport, ..
            },
        ) => FlowKey::V6 {
            src,
            dst,
            sport,
            dport,
        },
        (key, _) => key,
    }
}

proptest! {
    /// Every input length the hashes use (4, 8, 12, 16, 32, 36) and all the others up to the
    /// maximum: table-driven equals bit-by-bit.
    #[test]
    fn toeplitz_table_equals_reference(input in prop::collection::vec(any::<u8>(), 0..=MAX_INPUT_LEN)) {
        prop_assert_eq!(toeplitz(&input), toeplitz_reference(&RSS_KEY, &input));
    }

    #[test]
    fn toeplitz_table_equals_reference_for_flow_keys(key in any_key()) {
        for input in ALL_INPUTS {
            let bytes = key.input_bytes(input);
            let reference = toeplitz_reference(&RSS_KEY, bytes.as_slice());
            prop_assert_eq!(toeplitz(bytes.as_slice()), reference);
            // The production path hashes the key's fields in place.
            prop_assert_eq!(HashFn::Toeplitz.hash(&key, input), reference);
        }
    }

    /// Both builders make correct tables for other keys too (at run time here), and
    /// `set_key` leaves nothing of the previous key behind.
    #[test]
    fn toeplitz_table_equals_reference_for_any_key(
        key in any::<[u8; 40]>(),
        input in prop::collection::vec(any::<u8>(), 0..=MAX_INPUT_LEN),
    ) {
        let table = Box::new(ToeplitzTable::new(&key));
        prop_assert_eq!(table.hash(&input), toeplitz_reference(&key, &input));
        let mut rekeyed = Box::new(RSS_TOEPLITZ.clone());
        rekeyed.set_key(&key);
        prop_assert_eq!(&rekeyed, &table);
    }

    /// Toeplitz is linear over GF(2): what makes the per-byte tables valid.
    #[test]
    fn toeplitz_is_linear(a in any::<[u8; 36]>(), b in any::<[u8; 36]>()) {
        let x: Vec<u8> = a.iter().zip(&b).map(|(a, b)| a ^ b).collect();
        prop_assert_eq!(RSS_TOEPLITZ.hash(&x), RSS_TOEPLITZ.hash(&a) ^ RSS_TOEPLITZ.hash(&b));
    }

    #[test]
    fn crc16_table_equals_bitwise(init in any::<u16>(), data in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(crc16(init, &data), crc16_bitwise(init, &data));
    }

    #[test]
    fn xor_fold_is_the_fold(data in prop::collection::vec(any::<u8>(), 0..=16)) {
        prop_assert_eq!(xor_fold(&data), data.iter().fold(0, |acc, b| acc ^ b));
    }

    /// Per-client persistence: with the client address as input, the server address and the
    /// ports change nothing (except for the fold that is defined over the server address).
    #[test]
    fn client_addr_input_ignores_everything_but_the_client(key in any_key(), other in any_key()) {
        let moved = elsewhere(key, other);
        for f in ALL_FNS {
            if f != HashFn::XorFoldSrcDst {
                prop_assert_eq!(f.hash(&key, HashInput::ClientAddr), f.hash(&moved, HashInput::ClientAddr));
            }
        }
        // The fixed-input functions ignore `HashInput` altogether.
        for f in ALL_FNS.into_iter().filter(|f| !f.uses_input()) {
            for input in ALL_INPUTS {
                prop_assert_eq!(f.hash(&key, input), f.hash(&key, HashInput::ClientAddr));
            }
        }
    }
}
