//! sh: the hash by hand, the table against a transcription of `ip_vs_sh_reassign()` (weights
//! read per bucket, in order) and against the rule said plainly, and the lookups with and
//! without fallback against `ip_vs_sh_get()` / `ip_vs_sh_get_fallback()` transcribed (same
//! buckets, same reads, in the same order).

mod loads;

use ipvs_sched_core::hash::{hash_32, Addr};
use ipvs_sched_core::sh::*;
use loads::*;
use proptest::prelude::*;

#[test]
fn constants_as_c() {
    assert_eq!((TAB_BITS, TAB_SIZE, TAB_MASK), (8, 256, 255));
    assert_eq!((SVC_F_SCHED_SH_FALLBACK, SVC_F_SCHED_SH_PORT), (0x08, 0x10));
}

#[test]
fn hashkey_by_hand() {
    // hash_32(port + addr, 8): 0.0.0.0 port 1 and 0.0.0.1 port 0 both hash 1: 0x61.
    assert_eq!(hashkey(false, Addr::V4([0, 0, 0, 0]), 1, 0), 0x61);
    assert_eq!(hashkey(false, Addr::V4([0, 0, 0, 1]), 0, 0), 0x61);
    // The offset is added, then masked.
    assert_eq!(hashkey(false, Addr::V4([0, 0, 0, 1]), 0, 0x9f), 0);
    // port + addr wraps in unsigned int: 255.255.255.255 port 1 hashes 0.
    assert_eq!(hashkey(false, Addr::V4([255; 4]), 1, 0), 0);
    assert_eq!(
        hashkey(false, Addr::V4([10, 0, 0, 1]), 80, 0),
        hash_32(0x0A00_0051, 8) as usize
    );
}

/// `ip_vs_sh_reassign()` over the list `0..len`, reading the weights through `c`.
fn c_reassign(c: &CList) -> Vec<Option<usize>> {
    let head = c.len();
    let mut b = vec![None; TAB_SIZE];
    let mut p = head;
    let empty = c.len() == 0;
    let mut d_count = 0i32;
    for bucket in b.iter_mut() {
        if empty {
            *bucket = None;
        } else {
            if p == head {
                p = 0;
            }
            *bucket = Some(p);
            d_count += 1;
            if d_count >= c.weight(p) {
                p += 1;
                d_count = 0;
            }
        }
    }
    b
}

fn core_table(s: &[Server], log: &Log) -> Table<usize> {
    let mut t: Table<usize> = [None; TAB_SIZE];
    t.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = Some(1000 + i));
    reassign(&mut t, recs(s, log));
    t
}

#[test]
fn table_by_hand() {
    let s = [
        server(2, 0, 0, false),
        server(0, 0, 0, false),
        server(3, 0, 0, false),
    ];
    let t = core_table(&s, &Log::default());
    // 0 0 1 2 2 2, again and again; a weight of 0 takes one bucket.
    let want = [0, 0, 1, 2, 2, 2];
    for (i, b) in t.iter().enumerate() {
        assert_eq!(*b, Some(want[i % 6]), "bucket {i}");
    }
    // A weight above the table size takes the rest.
    let s = [server(1, 0, 0, false), server(1000, 0, 0, false)];
    let t = core_table(&s, &Log::default());
    assert_eq!(t[0], Some(0));
    assert!(t[1..].iter().all(|b| *b == Some(1)));
    assert!(core_table(&[], &Log::default()).iter().all(Option::is_none));
}

/// `ip_vs_sh_get()` / `ip_vs_sh_get_fallback()`, reading through `c`.
fn c_get(
    c: &CList,
    t: &[Option<usize>],
    v6: bool,
    addr: Addr,
    port: u16,
    fallback: bool,
) -> Option<usize> {
    let unavailable = |d: usize| c.weight(d) <= 0 || c.overloaded(d);
    let ihash = hashkey(v6, addr, port, 0);
    let dest = t[ihash];
    if !fallback {
        return dest.filter(|&d| !unavailable(d));
    }
    let dest = dest?;
    if !unavailable(dest) {
        return Some(dest);
    }
    for offset in 0..TAB_SIZE as u32 {
        let roffset = (offset + ihash as u32) % TAB_SIZE as u32;
        let hash = hashkey(v6, addr, port, roffset);
        let dest = t[hash]?;
        if !unavailable(dest) {
            return Some(dest);
        }
    }
    None
}

fn any_addr() -> impl Strategy<Value = (bool, Addr)> {
    (any::<bool>(), any::<[u8; 16]>()).prop_map(|(v6, a)| {
        (
            v6,
            if v6 {
                Addr::V6(a)
            } else {
                Addr::V4([a[0], a[1], a[2], a[3]])
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn table_matches_c(s in prop::collection::vec(any_server(), 0..12)) {
        let log = Log::default();
        let t = core_table(&s, &log);
        let got_reads = log.take();
        prop_assert_eq!(t.to_vec(), c_reassign(&CList { s: &s, log: &log }));
        prop_assert_eq!(got_reads, log.take());
        // The same servers give the same table.
        prop_assert_eq!(t, core_table(&s, &log));
    }

    #[test]
    fn table_plainly(weights in prop::collection::vec(prop_oneof![-2..=0i32, 1..=40i32], 1..12)) {
        // Each server, in list order, as many buckets in a row as its weight (at least one),
        // around and around.
        let mut seq = vec![];
        while seq.len() < TAB_SIZE {
            for (i, &w) in weights.iter().enumerate() {
                seq.extend(std::iter::repeat_n(Some(i), w.max(1) as usize));
            }
        }
        seq.truncate(TAB_SIZE);
        let s: Vec<Server> = weights.iter().map(|&w| server(w, 0, 0, false)).collect();
        prop_assert_eq!(core_table(&s, &Log::default()).to_vec(), seq);
    }

    #[test]
    fn lookups_match_c(s in prop::collection::vec(any_server(), 0..12), (v6, addr) in any_addr(),
                       port in any::<u16>(), flags in prop::sample::select(vec![0u32, 0x08, 0x10, 0x18, 0x20])) {
        let t = core_table(&s, &Log::default());
        let log = Log::default();
        let got = schedule(&t, v6, flags, addr, port, |&id| Rec { id, s: &s[id], log: &log }).copied();
        let got_reads = log.take();
        let port = if flags & SVC_F_SCHED_SH_PORT != 0 { port } else { 0 };
        let fallback = flags & SVC_F_SCHED_SH_FALLBACK != 0;
        let want = c_get(&CList { s: &s, log: &log }, &t, v6, addr, port, fallback);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_reads, log.take());
        let usable = |d: usize| s[d].weight > 0 && !s[d].overloaded;
        if let Some(d) = got {
            prop_assert!(usable(d));
        }
        // The fallback walk visits every bucket: it finds a server whenever a bucket holds a
        // usable one.
        if fallback {
            prop_assert_eq!(got.is_some(), t.iter().any(|b| b.is_some_and(usable)));
        }
    }
}
