//! dh: the hash by hand and against `<linux/hash.h>` written plainly, the table against a
//! transcription of `ip_vs_dh_reassign()` (list pointer and all) and against `i % n`, and the
//! choice against `ip_vs_dh_schedule()` transcribed (same reads, in the same order).

mod loads;

use ipvs_sched_core::dh::*;
use ipvs_sched_core::hash::{fold, hash_32, Addr};
use loads::*;
use proptest::prelude::*;

fn v6(s: &str) -> Addr {
    Addr::V6(s.parse::<std::net::Ipv6Addr>().unwrap().octets())
}

#[test]
fn constants_as_c() {
    assert_eq!((TAB_BITS, TAB_SIZE, TAB_MASK), (8, 256, 255));
}

#[test]
fn hashkey_by_hand() {
    // hash_32(x, 8) is the top byte of x * 0x61C88647 (mod 2^32).
    assert_eq!(hash_32(1, 8), 0x61);
    assert_eq!(hashkey(false, Addr::V4([0, 0, 0, 1])), 0x61);
    // 10.0.0.1: 0x0A000001 * G = 0x27C88647 (see lblc's tests): 0x27.
    assert_eq!(hashkey(false, Addr::V4([10, 0, 0, 1])), 0x27);
    // 2001:db8::1 folds to 0x20010db9.
    assert_eq!(fold(true, v6("2001:db8::1")), 0x2001_0db9);
    assert_eq!(
        hashkey(true, v6("2001:db8::1")),
        (0x2001_0db9u32.wrapping_mul(0x61C8_8647) >> 24) as usize
    );
    // An IPv4 server of an IPv6 service folds to its address; an IPv6 address read as the
    // union's first word by an IPv4 service.
    assert_eq!(fold(true, Addr::V4([10, 0, 0, 1])), 0x0A00_0001);
    assert_eq!(fold(false, v6("2001:db8::1")), 0x2001_0db8);
}

/// `ip_vs_dh_reassign()` over a list of `n` servers (ids `0..n`), the list pointer `p` a
/// position with `n` standing for the head.
fn c_reassign(n: usize) -> Vec<Option<usize>> {
    let head = n;
    let mut b = vec![None; TAB_SIZE];
    let mut p = head;
    let empty = n == 0;
    for bucket in b.iter_mut() {
        if empty {
            *bucket = None;
        } else {
            if p == head {
                p = 0;
            }
            *bucket = Some(p);
            p += 1;
        }
    }
    b
}

fn core_table(n: usize) -> Table<usize> {
    let mut t: Table<usize> = [None; TAB_SIZE];
    // Start from a stale table, as the module's is when servers change.
    t.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = Some(1000 + i));
    reassign(&mut t, 0..n);
    t
}

/// `ip_vs_dh_schedule()` after the lookup: bucket server `d`.
fn c_pick(c: &CList, d: Option<usize>) -> Option<usize> {
    let d = d?;
    if !c.available(d) || c.weight(d) <= 0 || c.overloaded(d) {
        return None;
    }
    Some(d)
}

#[test]
fn table_by_hand() {
    let t = core_table(3);
    assert_eq!(&t[..5], &[Some(0), Some(1), Some(2), Some(0), Some(1)]);
    assert_eq!(t[255], Some(0)); // 255 = 3 * 85
    assert!(core_table(0).iter().all(Option::is_none));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hash_32_plainly(x in any::<u32>(), bits in 1..=32u32) {
        let want = ((x as u64 * 0x61C8_8647u64) % (1u64 << 32)) >> (32 - bits);
        prop_assert_eq!(hash_32(x, bits) as u64, want);
    }

    #[test]
    fn table_matches_c_and_is_i_mod_n(n in 0..300usize) {
        let t = core_table(n);
        prop_assert_eq!(t.to_vec(), c_reassign(n));
        for (i, b) in t.iter().enumerate() {
            prop_assert_eq!(*b, (n > 0).then(|| i % n));
        }
        // The same servers give the same table.
        prop_assert_eq!(t, core_table(n));
    }

    #[test]
    fn schedule_matches_c(s in prop::collection::vec(any_server(), 0..20),
                          a in any::<[u8; 16]>(), is_v6 in any::<bool>()) {
        let t = core_table(s.len());
        let addr = if is_v6 { Addr::V6(a) } else { Addr::V4([a[0], a[1], a[2], a[3]]) };
        let log = Log::default();
        let got = schedule(&t, is_v6, addr, |&id| Rec { id, s: &s[id], log: &log }).copied();
        let got_reads = log.take();
        let bucket = hashkey(is_v6, addr);
        prop_assert!(bucket < TAB_SIZE);
        let want = c_pick(&CList { s: &s, log: &log }, t[bucket]);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_reads, log.take());
        if let Some(d) = got {
            prop_assert!(s[d].available && s[d].weight > 0 && !s[d].overloaded);
            prop_assert_eq!(d, bucket % s.len());
        }
    }
}
