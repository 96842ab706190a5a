//! mh: the hash (known answers computed apart, with a Python SipHash-1-3), gcd and shift by
//! hand, the table against a transcription of `ip_vs_mh_permutate()` and
//! `ip_vs_mh_populate()` (list pointer, bitmap and all) and against Maglev's rule written
//! plainly, the disruption when a server goes, and the lookups against `ip_vs_mh_get()` /
//! `ip_vs_mh_get_fallback()` transcribed (same buckets, same reads, in the same order).

mod loads;

use ipvs_sched_core::hash::{fold, Addr};
use ipvs_sched_core::mh::*;
use loads::*;
use proptest::prelude::*;
use std::cell::RefCell;

/// A server as mh places it; reads of `last_weight` are logged by id.
#[derive(Clone, Copy)]
struct Md<'a> {
    id: usize,
    d: &'a MServer,
    log: &'a RefCell<Vec<usize>>,
}

#[derive(Clone, Copy, Debug)]
struct MServer {
    last_weight: i32,
    addr: Addr,
    port: u16,
}

impl MhDest for Md<'_> {
    fn last_weight(&self) -> i32 {
        self.log.borrow_mut().push(self.id);
        self.d.last_weight
    }
    fn addr(&self) -> Addr {
        self.d.addr
    }
    fn port(&self) -> u16 {
        self.d.port
    }
}

fn core_table(
    d: &[MServer],
    v6: bool,
    log: &RefCell<Vec<usize>>,
) -> Result<Box<Table<usize>>, Error> {
    let mut t: Box<Table<usize>> = Box::new([None; TAB_SIZE]);
    // A stale table, as the module's is when servers change.
    t.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = Some(10_000 + i));
    let mut setup = vec![DestSetup::default(); d.len()];
    let items = d.iter().enumerate().map(|(id, d)| (id, Md { id, d, log }));
    reassign(&mut t, &mut setup, v6, items)?;
    Ok(t)
}

fn table(d: &[MServer], v6: bool) -> Box<Table<usize>> {
    core_table(d, v6, &RefCell::new(vec![])).unwrap()
}

#[test]
fn constants_as_c() {
    assert_eq!(TAB_SIZE, 4093);
    assert_eq!(TAB_BITS, 6);
    assert_eq!(HASH1, [2654435761, 2654435761]);
    assert_eq!(HASH2, [2654446892, 2654446892]);
    assert_eq!((SVC_F_SCHED_MH_FALLBACK, SVC_F_SCHED_MH_PORT), (0x08, 0x10));
}

#[test]
fn hashkey_known_answers() {
    // From an independent SipHash-1-3 (Python, checked against the kunit vectors) of the
    // little-endian u32 `addr + port`, keys as generate_hash_secret() sets them.
    let a = Addr::V4([10, 0, 0, 1]);
    assert_eq!(hashkey(false, a, 80, &HASH1, 0), 1_134_300_350);
    assert_eq!(hashkey(false, a, 80, &HASH1, 0) % 4093, 3167);
    assert_eq!(hashkey(false, a, 80, &HASH2, 0) % 4092 + 1, 700);
    let b = Addr::V4([192, 168, 0, 1]);
    assert_eq!(hashkey(false, b, 0, &HASH1, 0), 2_201_249_422);
    assert_eq!(hashkey(false, b, 0, &HASH2, 0) % 4092 + 1, 1086);
    let z = Addr::V4([0; 4]);
    assert_eq!(hashkey(false, z, 0, &HASH1, 0), 492_468_162);
    // offset + port + addr is one sum: the same v, the same hash.
    assert_eq!(hashkey(false, z, 0, &HASH1, 0x0A00_0051), 1_134_300_350);
    assert_eq!(
        hashkey(false, Addr::V4([10, 0, 0, 0]), 0, &HASH1, 81),
        1_134_300_350
    );
}

#[test]
fn gcd_and_shift_by_hand() {
    assert_eq!(gcd_weight([4, 6, 0, -2]), 2);
    assert_eq!(gcd_weight([0, -1]), 0);
    assert_eq!(gcd_weight([]), 0);
    // max / gcd = 3: 2 bits, no shift.
    assert_eq!(shift_weight([4, 6], 2), 0);
    // 1000: fls 10, shift 4; 64: fls 7, shift 1; 63: fls 6, no shift.
    assert_eq!(shift_weight([1, 1000], 1), 4);
    assert_eq!(shift_weight([64], 1), 1);
    assert_eq!(shift_weight([63], 1), 0);
    assert_eq!(shift_weight([1000], 0), 0);
}

#[test]
fn turns_by_hand() {
    // Weights 1 and 1000: shift 4, turns 1 (0, then `lw != 0`) and 62. Of 4093 buckets the
    // first server gets one per round of 63: 65 buckets (the last round stops early).
    let d = [server_at(1, 1), server_at(2, 1000)];
    let t = table(&d, false);
    let first = t.iter().filter(|b| **b == Some(0)).count();
    assert_eq!(first, 4093usize.div_ceil(63));
    // A server of last weight 0 gets none; all last weights 0 empties the table.
    let d = [server_at(1, 0), server_at(2, 5)];
    assert!(table(&d, false).iter().all(|b| *b == Some(1)));
    assert!(table(&[server_at(1, 0)], false).iter().all(Option::is_none));
    assert!(table(&[], false).iter().all(Option::is_none));
}

#[test]
fn a_small_negative_weight_gets_a_turn() {
    // IPVS refuses negative weights; C would give one a turn when `lw / gcd` is 0
    // (`-1 / 2 >> 0 = 0`, then `lw != 0`), none when it is negative (`-2 / 2 = -1 < 1`).
    let d = [server_at(1, -1), server_at(2, 2)];
    let t = table(&d, false);
    let first = t.iter().filter(|b| **b == Some(0)).count();
    assert!(first > 1000, "{first}");
    let d = [server_at(1, -2), server_at(2, 2)];
    assert!(table(&d, false).iter().all(|b| *b == Some(1)));
}

#[test]
fn too_many_servers() {
    let d: Vec<MServer> = (0..4094).map(|i| server_at(i, 1)).collect();
    assert_eq!(
        core_table(&d, false, &RefCell::new(vec![])).err(),
        Some(Error::TooManyDests)
    );
    let mut t: Box<Table<usize>> = Box::new([Some(7); TAB_SIZE]);
    let log = RefCell::new(vec![]);
    let d = [server_at(1, 1), server_at(2, 1)];
    let items = d
        .iter()
        .enumerate()
        .map(|(id, d)| (id, Md { id, d, log: &log }));
    let mut setup = [DestSetup::default(); 1];
    assert_eq!(
        reassign(&mut t, &mut setup, false, items),
        Err(Error::SetupTooSmall)
    );
    // Refused: the table is as it was.
    assert!(t.iter().all(|b| *b == Some(7)));
}

fn server_at(i: u32, last_weight: i32) -> MServer {
    MServer {
        last_weight,
        addr: Addr::V4(0x0A00_0000u32.wrapping_add(i).to_be_bytes()),
        port: 80,
    }
}

/// `ip_vs_mh_gcd_weight()`, `ip_vs_mh_shift_weight()`, `ip_vs_mh_permutate()` and
/// `ip_vs_mh_populate()`, line by line; `lw(i)` reads a server's last weight.
fn c_mh(d: &[MServer], v6: bool, lw: &dyn Fn(usize) -> i32) -> Vec<Option<usize>> {
    fn c_gcd(mut a: u64, mut b: u64) -> u64 {
        // lib/math/gcd.c's result, by Euclid.
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let size = TAB_SIZE as u32;
    let mut g: i32 = 0;
    for i in 0..d.len() {
        let weight = lw(i);
        if weight > 0 {
            g = if g > 0 {
                c_gcd(weight as u64, g as u64) as i32
            } else {
                weight
            };
        }
    }
    let rshift = if g < 1 {
        0
    } else {
        let mut weight = 0;
        for i in 0..d.len() {
            let new_weight = lw(i);
            if new_weight > weight {
                weight = new_weight;
            }
        }
        let mw = weight / g;
        let shift = (32 - (mw as u32).leading_zeros()) as i32 - 6;
        if shift >= 0 {
            shift
        } else {
            0
        }
    };
    if g < 1 {
        return vec![None; TAB_SIZE];
    }
    #[derive(Clone, Copy, Default)]
    struct Ds {
        skip: u32,
        perm: u32,
        turns: i32,
    }
    let mut ds = vec![Ds::default(); d.len()];
    for (i, x) in d.iter().enumerate() {
        let offset = hashkey(v6, x.addr, x.port, &HASH1, 0) % size;
        ds[i].skip = hashkey(v6, x.addr, x.port, &HASH2, 0) % (size - 1) + 1;
        ds[i].perm = offset;
        let l = lw(i);
        let t = (l / g) >> rshift;
        ds[i].turns = if t != 0 { t } else { (l != 0) as i32 };
    }
    let mut lookup = vec![None; TAB_SIZE];
    let mut bitmap = vec![false; TAB_SIZE];
    let head = d.len();
    let mut p = head;
    let (mut n, mut dt_count) = (0, 0);
    while n < TAB_SIZE {
        if p == head {
            p = 0;
        }
        let mut k = 0;
        while p != head {
            if ds[k].turns < 1 {
                p += 1;
                k += 1;
                continue;
            }
            let mut c = ds[k].perm;
            while bitmap[c as usize] {
                ds[k].perm += ds[k].skip;
                if ds[k].perm >= size {
                    ds[k].perm -= size;
                }
                c = ds[k].perm;
            }
            bitmap[c as usize] = true;
            lookup[c as usize] = Some(p);
            n += 1;
            if n == TAB_SIZE {
                return lookup;
            }
            dt_count += 1;
            if dt_count >= ds[k].turns {
                dt_count = 0;
                p += 1;
                k += 1;
            }
        }
    }
    lookup
}

/// Maglev's population written plainly: each server's preference list is
/// `(offset + j * skip) % M` for `j = 0, 1, ...`; in rounds, each server in list order takes
/// its `turns` next preferred free buckets.
fn plain_maglev(d: &[MServer], v6: bool) -> Vec<Option<usize>> {
    let m = TAB_SIZE as u64;
    let weights: Vec<i64> = d.iter().map(|x| x.last_weight as i64).collect();
    let pos: Vec<i64> = weights.iter().copied().filter(|&w| w > 0).collect();
    if pos.is_empty() {
        return vec![None; TAB_SIZE];
    }
    let g = pos.iter().fold(0i64, |a, &b| num_gcd(a, b));
    let max = *pos.iter().max().unwrap() / g;
    let bits = 64 - (max as u64).leading_zeros() as i64;
    let shift = (bits - 6).max(0);
    let turns: Vec<i64> = weights
        .iter()
        .map(|&w| if w <= 0 { 0 } else { ((w / g) >> shift).max(1) })
        .collect();
    let prefs: Vec<(u64, u64)> = d
        .iter()
        .map(|x| {
            let h1 = hashkey(v6, x.addr, x.port, &HASH1, 0) as u64;
            let h2 = hashkey(v6, x.addr, x.port, &HASH2, 0) as u64;
            (h1 % m, h2 % (m - 1) + 1)
        })
        .collect();
    let mut next = vec![0u64; d.len()];
    let mut table = vec![None; TAB_SIZE];
    let mut filled = 0;
    loop {
        for i in 0..d.len() {
            for _ in 0..turns[i] {
                loop {
                    let (o, s) = prefs[i];
                    let b = ((o + next[i] * s) % m) as usize;
                    next[i] += 1;
                    if table[b].is_none() {
                        table[b] = Some(i);
                        break;
                    }
                }
                filled += 1;
                if filled == TAB_SIZE {
                    return table;
                }
            }
        }
    }
}

fn num_gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        num_gcd(b, a % b)
    }
}

fn any_mserver() -> impl Strategy<Value = MServer> {
    (
        prop_oneof![
            2 => Just(0),
            6 => 1..=8i32,
            2 => prop::sample::select(vec![12, 64, 100, 1000, 65535, 1 << 20, i32::MAX]),
            1 => -3..0i32,
        ],
        any::<[u8; 16]>(),
        any::<bool>(),
        prop_oneof![Just(80u16), any::<u16>()],
    )
        .prop_map(|(last_weight, a, is_v6, port)| MServer {
            last_weight,
            addr: if is_v6 {
                Addr::V6(a)
            } else {
                Addr::V4([a[0], a[1], a[2], a[3]])
            },
            port,
        })
}

/// `ip_vs_mh_get()` / `ip_vs_mh_get_fallback()`, reading through `c`.
fn c_get(
    c: &CList,
    t: &[Option<usize>],
    v6: bool,
    addr: Addr,
    port: u16,
    fallback: bool,
) -> Option<usize> {
    let size = TAB_SIZE as u32;
    let unavailable = |d: usize| c.weight(d) <= 0 || c.overloaded(d);
    let ihash = hashkey(v6, addr, port, &HASH1, 0) % size;
    let dest = t[ihash as usize];
    if !fallback {
        return dest.filter(|&d| !unavailable(d));
    }
    let dest = dest?;
    if !unavailable(dest) {
        return Some(dest);
    }
    for offset in 0..size {
        let roffset = (offset + ihash) % size;
        let hash = hashkey(v6, addr, port, &HASH1, roffset) % size;
        let dest = t[hash as usize]?;
        if !unavailable(dest) {
            return Some(dest);
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn table_matches_c(d in prop::collection::vec(any_mserver(), 0..16), v6 in any::<bool>()) {
        let log = RefCell::new(vec![]);
        let t = core_table(&d, v6, &log).unwrap();
        let reads = log.take();
        let want = c_mh(&d, v6, &|i| {
            log.borrow_mut().push(i);
            d[i].last_weight
        });
        prop_assert_eq!(t.to_vec(), want);
        // Three walks reading the last weights when some is positive (gcd, max, turns), two
        // otherwise.
        prop_assert_eq!(reads, log.take());
        // The same servers give the same table, whatever the table held before.
        prop_assert_eq!(t, table(&d, v6));
    }

    #[test]
    fn table_is_maglev(mut d in prop::collection::vec(any_mserver(), 0..12), v6 in any::<bool>()) {
        // Weights as IPVS allows them (see a_small_negative_weight_gets_a_turn for others).
        d.iter_mut().for_each(|x| x.last_weight = x.last_weight.max(0));
        prop_assert_eq!(table(&d, v6).to_vec(), plain_maglev(&d, v6));
    }

    #[test]
    fn lookups_match_c(d in prop::collection::vec(any_mserver(), 0..10),
                       s in prop::collection::vec(any_server(), 10),
                       v6 in any::<bool>(), a in any::<[u8; 16]>(), port in any::<u16>(),
                       flags in prop::sample::select(vec![0u32, 0x08, 0x10, 0x18])) {
        let t = table(&d, v6);
        let addr = if v6 { Addr::V6(a) } else { Addr::V4([a[0], a[1], a[2], a[3]]) };
        let log = Log::default();
        let got = schedule(&t, v6, flags, addr, port, |&id| Rec { id, s: &s[id], log: &log }).copied();
        let got_reads = log.take();
        let port = if flags & SVC_F_SCHED_MH_PORT != 0 { port } else { 0 };
        let fallback = flags & SVC_F_SCHED_MH_FALLBACK != 0;
        let want = c_get(&CList { s: &s, log: &log }, &t[..], v6, addr, port, fallback);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_reads, log.take());
        if let Some(x) = got {
            prop_assert!(s[x].weight > 0 && !s[x].overloaded);
        }
    }

    #[test]
    fn folds_by_the_service_family(a in any::<[u8; 4]>(), port in any::<u16>()) {
        // An IPv4 server of an IPv6 service hashes as in an IPv4 service.
        prop_assert_eq!(fold(true, Addr::V4(a)), fold(false, Addr::V4(a)));
        prop_assert_eq!(hashkey(true, Addr::V4(a), port, &HASH1, 0),
                        hashkey(false, Addr::V4(a), port, &HASH1, 0));
    }
}

/// The buckets of the other servers that move when one of `d` goes.
fn moved_others(d: &[MServer], gone: usize) -> usize {
    let before = table(d, false);
    let mut rest = d.to_vec();
    rest.remove(gone);
    let after = table(&rest, false);
    // Ids after `gone` shift down by one.
    let id_after = |id: usize| if id > gone { id - 1 } else { id };
    (0..TAB_SIZE)
        .filter(|&b| {
            let old = before[b].unwrap();
            old != gone && after[b] != Some(id_after(old))
        })
        .count()
}

#[test]
fn a_server_gone_moves_few_buckets_of_the_others() {
    // 2 to 40 servers of equal weight, 8 sets of addresses each, each server going in turn.
    // Measured: at most 4.3% of the table moves between the others (177 buckets of 4093),
    // 1.8% on average (74 buckets), while the server that goes had 1/n of them; C gives no
    // bound beyond Maglev's "minimal disruption" by construction, so the bound asserted is
    // the measure with a margin: 5% in the worst case, 2.5% on average, and none with 2
    // servers (the survivor takes all). Random lists in proptest gave at most 2.6%.
    let (mut worst, mut total, mut cases) = (0, 0, 0);
    for n in 2..=40u32 {
        for salt in 0..8u32 {
            let d: Vec<MServer> = (0..n)
                .map(|i| MServer {
                    last_weight: 5,
                    addr: Addr::V4((0x0A00_0000 | salt << 16 | i).to_be_bytes()),
                    port: 8080,
                })
                .collect();
            for gone in 0..n as usize {
                let m = moved_others(&d, gone);
                if n == 2 {
                    assert_eq!(m, 0);
                }
                worst = worst.max(m);
                total += m;
                cases += 1;
            }
        }
    }
    assert!(worst * 100 <= TAB_SIZE * 5, "worst {worst} of {TAB_SIZE}");
    assert!(
        total * 1000 <= cases * TAB_SIZE * 25,
        "average {}",
        total / cases
    );
    eprintln!(
        "mh disruption: worst {worst}, average {:.1} buckets of {TAB_SIZE}",
        total as f64 / cases as f64
    );
}
