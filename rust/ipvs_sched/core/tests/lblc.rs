//! lblc's rules: exact cases, and a table built from them (as the kernel module builds it:
//! buckets of entries, the garbage-collection timer) against a reference model that keeps a
//! plain map from target to server and writes the rules the naive way.

mod common;

use common::*;
use ipvs_sched_core::lblc::*;
use ipvs_sched_core::wlc;
use proptest::prelude::*;
use std::collections::HashMap;

fn load(weight: i32, activeconns: i32) -> DestLoad {
    DestLoad {
        weight,
        overloaded: false,
        available: true,
        activeconns,
        totalconns: activeconns,
    }
}

// ---------------------------------------------------------------------------------------------
// Exact cases.

#[test]
fn constants_as_c() {
    assert_eq!(TAB_BITS, 10);
    assert_eq!(TAB_SIZE, 1024);
    assert_eq!(TAB_MASK, 1023);
    assert_eq!(MAX_SIZE, 16 * 1024);
    assert_eq!(CREATE_LIMIT, 24 * 1024);
    assert_eq!(COUNT_FOR_FULL_EXPIRATION, 30);
    assert_eq!(GOLDEN_RATIO_32, 0x61C8_8647);
    assert_eq!(default_expiration(100), 8_640_000);
    assert_eq!(default_expiration(250), 21_600_000);
    assert_eq!(default_expiration(1000), 86_400_000);
    assert_eq!(entry_timeout(250), 90_000);
    assert_eq!(check_expire_interval(1000), 60_000);
}

#[test]
fn hash_32_by_hand() {
    // val * 0x61C88647 mod 2^32, top 10 bits.
    assert_eq!(hash_32(0, 10), 0);
    // 0x61C88647 = 0b0110_0001_11|00_1000_..., top ten bits 0b0110000111 = 391.
    assert_eq!(hash_32(1, 10), 391);
    // 2 * G = 0xC3910C8E: 0b1100_0011_10|01... = 782.
    assert_eq!(hash_32(2, 10), 782);
    // 10.0.0.1: G + 0x0A000000 * G = G + (0x0A * 0x47 = 0x2C6) << 24 = 0x61C88647 + 0xC6000000
    // = 0x27C88647 (mod 2^32): 0b0010_0111_11|... = 159.
    assert_eq!(hash_32(0x0A00_0001, 10), 159);
    // 0xFFFFFFFF * G = -G = 0x9E3779B9: 0b1001_1110_00|... = 632.
    assert_eq!(hash_32(0xFFFF_FFFF, 10), 632);
    // bits = 32 is the whole product; bits = 1 the top bit.
    assert_eq!(hash_32(1, 32), 0x61C8_8647);
    assert_eq!(hash_32(0xFFFF_FFFF, 1), 1);
    // Out of C's domain: 0 rather than a panic.
    assert_eq!(hash_32(1, 0), 0);
    assert_eq!(hash_32(1, 40), 0);
}

#[test]
fn hashkey_of_addresses() {
    assert_eq!(hashkey_v4([10, 0, 0, 1]), 159);
    // 192.168.0.1 = 0xC0A80001: * G = 0xC0608647 -> 0b1100_0000_01|... = 769.
    assert_eq!(hashkey_v4([192, 168, 0, 1]), 769);
    // 2001:db8::1 folds to 0x20010db8 ^ 0 ^ 0 ^ 1 = 0x20010db9.
    let a: [u8; 16] = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    assert_eq!(fold_v6(a), 0x2001_0db9);
    assert_eq!(hashkey_v6(a), hash_32(0x2001_0db9, 10));
    // An IPv4-mapped IPv6 address folds to 0xffff ^ addr.
    let m: [u8; 16] = "::ffff:10.0.0.1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    assert_eq!(fold_v6(m), 0x0000_ffff ^ 0x0A00_0001);
}

#[test]
fn jiffies_wrap_around() {
    let max = Jiffies::MAX;
    assert!(time_after(5, 3));
    assert!(!time_after(3, 5));
    assert!(!time_after(3, 3));
    // 2 jiffies after the wrap is after MAX - 1.
    assert!(time_after(1, max - 1));
    assert!(time_before(max - 1, 1));
    assert!(!time_before(1, max - 1));
    // Half the range apart the sign flips, as in C: 0 is after anything in 2^63..2^64
    // (b - a reads as a negative long) and before anything in 1..2^63.
    let half = max / 2 + 1; // 2^63, LONG_MIN as unsigned
    assert!(time_after(0, half));
    assert!(time_after(0, max));
    assert!(!time_after(0, half - 1));
    assert!(time_before(0, half - 1));
    // unsigned long + int: a negative int wraps.
    assert_eq!(jiffies_add(10, -3), 7);
    assert_eq!(jiffies_add(1, -2), max);
    assert_eq!(jiffies_add(max, 2), 1);
}

#[test]
fn staleness_is_idle_at_least_the_timeout_across_the_wrap() {
    let t = 1000;
    for lastuse in [0, 12345, Jiffies::MAX - 400, Jiffies::MAX] {
        assert!(!is_stale(lastuse.wrapping_add(999), lastuse, t));
        assert!(is_stale(lastuse.wrapping_add(1000), lastuse, t));
        assert!(is_stale(lastuse.wrapping_add(1001), lastuse, t));
        // A lastuse in the future (updated by another CPU after `now` was read) is fresh.
        assert!(!is_stale(lastuse, lastuse.wrapping_add(5), t));
    }
    // lblcr's form of the full check is the same test.
    for (now, lastuse, e) in [
        (5, 0, 5),
        (4, 0, 5),
        (1, Jiffies::MAX, 2),
        (0, Jiffies::MAX, 2),
    ] {
        assert_eq!(
            is_stale(now, lastuse, e),
            !time_after(jiffies_add(lastuse, e), now)
        );
    }
}

#[test]
fn overload_needs_a_server_under_half_its_weight() {
    // A has 5 active connections for weight 4: over its weight.
    let a = load(4, 5);
    // B at 2 of 4: not *under* half (2 * 2 < 4 is false).
    let b = load(4, 2);
    assert!(!is_overloaded(&a, [a, b]));
    // B at 1 of 4: under half, so A counts as overloaded.
    let b = load(4, 1);
    assert!(is_overloaded(&a, [a, b]));
    // A at exactly its weight is not over it.
    assert!(!is_overloaded(&load(4, 4), [load(4, 4), b]));
    // Weight-0 and overloaded-flagged servers count too, as C walks the whole list.
    let quiesced = DestLoad {
        overloaded: true,
        ..load(3, 0)
    };
    assert!(is_overloaded(&a, [a, quiesced]));
    assert!(!is_overloaded(&a, [a, load(0, 0)]));
    // The cached server: also needs to be available and have a positive weight; its own
    // overload flag is not looked at.
    assert!(cached_is_usable(&load(4, 1), [load(4, 1)]));
    assert!(!cached_is_usable(
        &DestLoad {
            available: false,
            ..load(4, 1)
        },
        [load(4, 1)]
    ));
    assert!(!cached_is_usable(&load(0, 0), [load(4, 1)]));
    assert!(cached_is_usable(
        &DestLoad {
            overloaded: true,
            ..load(4, 1)
        },
        [load(4, 1)]
    ));
    assert!(!cached_is_usable(&a, [a, b]));
}

#[test]
fn schedule_keeps_or_replaces_the_cached_server() {
    let list = [(0usize, load(4, 1)), (1, load(4, 3))];
    // No entry: least connection.
    assert_eq!(schedule(None, list.iter().copied()), Choice::Fresh(0));
    // A usable cached server is kept even if it is not the least loaded.
    assert_eq!(
        schedule(Some((1, load(4, 3))), list.iter().copied()),
        Choice::Cached(1)
    );
    // Cached server over its weight while server 0 is under half: replaced.
    assert_eq!(
        schedule(Some((1, load(4, 5))), list.iter().copied()),
        Choice::Fresh(0)
    );
    // A cached server in the trash: replaced.
    let gone = DestLoad {
        available: false,
        ..load(4, 0)
    };
    assert_eq!(
        schedule(Some((7, gone)), list.iter().copied()),
        Choice::Fresh(0)
    );
    // Nothing to replace it with.
    let none = [(0usize, load(0, 0))];
    assert_eq!(
        schedule(Some((7, gone)), none.iter().copied()),
        Choice::NoDest
    );
    assert_eq!(
        schedule(None, [].iter().copied::<(usize, DestLoad)>()),
        Choice::<usize>::NoDest
    );
}

#[test]
fn creation_cap() {
    assert!(may_create(0));
    assert!(may_create(CREATE_LIMIT - 1));
    assert!(!may_create(CREATE_LIMIT));
}

#[test]
fn gc_counter_full_check_every_30_quiet_runs() {
    let mut gc = Gc::new();
    assert_eq!((gc.rover(), gc.counter()), (0, 1));
    for i in 2..=30 {
        assert_eq!(gc.start(MAX_SIZE), None);
        assert_eq!(gc.counter(), i);
    }
    let sweep = gc.start(0).unwrap();
    assert_eq!(sweep.kind(), SweepKind::Full);
    assert_eq!(sweep.timeout(777, 100), 777);
    assert_eq!(gc.counter(), 1);
    // Over the cap the counter does not move.
    let sweep = gc.start(MAX_SIZE + 1).unwrap();
    assert_eq!(sweep.kind(), SweepKind::OverCap);
    assert_eq!(sweep.goal(), 1);
    assert_eq!(sweep.timeout(777, 100), 36_000);
    assert_eq!(gc.counter(), 1);
}

#[test]
fn over_cap_goal_as_c() {
    assert_eq!(over_cap_goal(MAX_SIZE + 1, MAX_SIZE), 1); // 4 / 3
    assert_eq!(over_cap_goal(MAX_SIZE + 3, MAX_SIZE), 4);
    assert_eq!(over_cap_goal(MAX_SIZE + 1000, MAX_SIZE), 1333);
    assert_eq!(over_cap_goal(MAX_SIZE + 6144, MAX_SIZE), 8192);
    assert_eq!(over_cap_goal(MAX_SIZE + 9000, MAX_SIZE), MAX_SIZE / 2);
}

#[test]
fn sweeps_walk_the_buckets_from_the_rover() {
    let mut gc = Gc::new();
    // Full check: all 1024 buckets starting after the rover; the rover comes back to itself.
    for _ in 2..=30 {
        gc.start(0);
    }
    let mut sweep = gc.start(0).unwrap();
    let buckets: Vec<usize> = std::iter::from_fn(|| sweep.next_bucket()).collect();
    assert_eq!(buckets, (1..1024).chain([0]).collect::<Vec<_>>());
    gc.finish(sweep);
    assert_eq!(gc.rover(), 0);

    // Over cap with goal 4: buckets 1, 2, 3 (one stale entry each, goal 1 left), 4 (two:
    // both go although the goal was 1), then stop; the rover stays at 4.
    let mut sweep = gc.start(MAX_SIZE + 3).unwrap();
    assert_eq!(sweep.goal(), 4);
    let stale_in = |b: usize| if b == 4 { 2 } else { 1 };
    let mut visited = vec![];
    while let Some(b) = sweep.next_bucket() {
        visited.push(b);
        for _ in 0..stale_in(b) {
            sweep.removed();
        }
    }
    assert_eq!(visited, [1, 2, 3, 4]);
    assert_eq!(sweep.goal(), -1);
    gc.finish(sweep);
    assert_eq!(gc.rover(), 4);
    // The next sweep starts after it and, finding nothing, goes round to it again.
    let mut sweep = gc.start(MAX_SIZE + 3).unwrap();
    let visited: Vec<usize> = std::iter::from_fn(|| sweep.next_bucket()).collect();
    assert_eq!(visited.len(), 1024);
    assert_eq!((visited[0], visited[1023]), (5, 4));
    gc.finish(sweep);
    assert_eq!(gc.rover(), 4);
}

// ---------------------------------------------------------------------------------------------
// The table as the kernel module keeps it, built from the rules above.

#[derive(Clone, Debug)]
struct Entry {
    target: Target,
    dest: usize,
    lastuse: Jiffies,
}

struct Table {
    buckets: Vec<Vec<Entry>>,
    entries: i32,
    gc: Gc,
}

fn bucket_of(t: &Target) -> usize {
    match t {
        Target::V4(a) => hashkey_v4(*a) as usize,
        Target::V6(a) => hashkey_v6(*a) as usize,
    }
}

impl Table {
    fn new() -> Self {
        Table {
            buckets: vec![Vec::new(); TAB_SIZE],
            entries: 0,
            gc: Gc::new(),
        }
    }

    fn schedule(&mut self, t: Target, now: Jiffies, c: &Cluster) -> Option<usize> {
        let b = bucket_of(&t);
        let cached = self.buckets[b].iter_mut().find(|e| e.target == t).map(|e| {
            e.lastuse = now;
            (e.dest, c.load(e.dest))
        });
        match schedule(cached, c.dests()) {
            Choice::Cached(d) => Some(d),
            Choice::Fresh(d) => {
                // ip_vs_lblc_new()
                if let Some(i) = self.buckets[b].iter().position(|e| e.target == t) {
                    if self.buckets[b][i].dest == d {
                        return Some(d);
                    }
                    self.buckets[b].remove(i);
                    self.entries -= 1;
                }
                if may_create(self.entries) {
                    self.buckets[b].insert(
                        0,
                        Entry {
                            target: t,
                            dest: d,
                            lastuse: now,
                        },
                    );
                    self.entries += 1;
                }
                Some(d)
            }
            Choice::NoDest => None,
        }
    }

    fn timer(&mut self, now: Jiffies, expiration: i32, hz: i32) {
        if let Some(mut sweep) = self.gc.start(self.entries) {
            let timeout = sweep.timeout(expiration, hz);
            while let Some(b) = sweep.next_bucket() {
                let before = self.buckets[b].len();
                self.buckets[b].retain(|e| !is_stale(now, e.lastuse, timeout));
                for _ in self.buckets[b].len()..before {
                    self.entries -= 1;
                    sweep.removed();
                }
            }
            self.gc.finish(sweep);
        }
    }

    fn snapshot(&self) -> HashMap<Target, (usize, Jiffies)> {
        self.buckets
            .iter()
            .flatten()
            .map(|e| (e.target, (e.dest, e.lastuse)))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The reference: a map from target to (server, last use in absolute time).

struct Naive {
    map: HashMap<Target, (usize, u64)>,
    gc: NaiveGc,
}

impl Naive {
    fn new() -> Self {
        Naive {
            map: HashMap::new(),
            gc: NaiveGc::new(),
        }
    }

    fn schedule(&mut self, t: Target, now: u64, c: &Cluster) -> Option<usize> {
        if let Some(e) = self.map.get_mut(&t) {
            e.1 = now;
            let d = e.0;
            let s = &c.servers[d];
            if s.in_list && s.weight > 0 && !c.naive_overloaded(d) {
                return Some(d);
            }
        }
        let best = c.naive_wlc()?;
        if self.map.get(&t).map(|e| e.0) != Some(best) {
            self.map.remove(&t);
            if self.map.len() < 16384 * 3 / 2 {
                self.map.insert(t, (best, now));
            } else {
                self.gc.stats.refused += 1;
            }
        }
        Some(best)
    }

    fn timer(&mut self, now: u64, expiration: i64, hz: i64) {
        self.gc.run(&mut self.map, |e| e.1, now, expiration, hz);
    }
}

fn same_tables(table: &Table, naive: &Naive, clock: &Clock) -> Result<(), TestCaseError> {
    let snap = table.snapshot();
    prop_assert_eq!(table.entries as usize, snap.len());
    prop_assert_eq!(snap.len(), naive.map.len());
    for (t, &(dest, lastuse)) in &naive.map {
        prop_assert_eq!(
            snap.get(t),
            Some(&(dest, clock.at(lastuse))),
            "target {:?}",
            t
        );
    }
    prop_assert_eq!(
        (table.gc.rover(), table.gc.counter()),
        (naive.gc.rover, naive.gc.counter)
    );
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Connect(usize),
    Cluster(ClusterOp),
    Advance(u64),
    Tick,
}

fn any_op(hz: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => any::<usize>().prop_map(Op::Connect),
        5 => any_cluster_op().prop_map(Op::Cluster),
        3 => prop_oneof![0..=3u64, Just(60 * hz), Just(6 * 60 * hz - 1), Just(6 * 60 * hz),
                         Just(24 * 3600 * hz), 0..=30 * 60 * hz].prop_map(Op::Advance),
        2 => Just(Op::Tick),
    ]
}

fn any_hz() -> impl Strategy<Value = i32> {
    prop::sample::select(vec![100, 250, 300, 1000])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn least_conn_is_wlc(dests in prop::collection::vec(
        (prop_oneof![Just(0), 1..=4i32, Just(i32::MAX)], 0..=1000i32, 0..=100_000i32,
         prop::bool::weighted(0.2)), 0..10))
    {
        let l: Vec<(usize, DestLoad)> = dests.iter().enumerate().map(|(i, &(weight, a, t, overloaded))|
            (i, DestLoad { weight, overloaded, available: true, activeconns: a, totalconns: t })).collect();
        prop_assert_eq!(least_conn(l.clone()), wlc::pick(l));
    }

    #[test]
    fn staleness_matches_elapsed_time(start in any::<u64>(), lastuse in 0..1u64 << 40,
                                      idle in 0..1u64 << 40, timeout in 0..i32::MAX) {
        let clock = Clock { start: start as Jiffies, abs: 0 };
        let stale = is_stale(clock.at(lastuse + idle), clock.at(lastuse), timeout);
        prop_assert_eq!(stale, idle >= timeout as u64);
    }

    #[test]
    fn table_matches_naive_model(
        hz in any_hz(),
        start_sel in any::<u64>(),
        servers in any_servers(),
        v6 in any::<bool>(),
        n_targets in 1..40usize,
        short_expiration in any::<bool>(),
        ops in prop::collection::vec(any_op(1000), 0..200),
    ) {
        let starts = [(-300i64 * hz as i64) as Jiffies, Jiffies::MAX - 50_000, 0, start_sel as Jiffies];
        let mut clock = Clock { start: starts[(start_sel % 4) as usize], abs: 0 };
        let expiration = if short_expiration { 20 * 60 * hz } else { default_expiration(hz) };
        let mut cluster = Cluster::new(servers);
        let targets = targets(v6, n_targets, start_sel as u32);
        let mut table = Table::new();
        let mut naive = Naive::new();
        for op in ops {
            match op {
                Op::Connect(i) => {
                    let t = targets[i % targets.len()];
                    let got = table.schedule(t, clock.jiffies(), &cluster);
                    let want = naive.schedule(t, clock.abs, &cluster);
                    prop_assert_eq!(got, want);
                    if let Some(d) = got {
                        let s = &cluster.servers[d];
                        prop_assert!(s.weight > 0 && s.in_list);
                        cluster.connect(d);
                    }
                }
                Op::Cluster(op) => cluster.apply(&op),
                // Scaled to this test's HZ.
                Op::Advance(dt) => clock.abs += dt * hz as u64 / 1000,
                Op::Tick => {
                    table.timer(clock.jiffies(), expiration, hz);
                    naive.timer(clock.abs, expiration as i64, hz as i64);
                }
            }
            same_tables(&table, &naive, &clock)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Tables over `MAX_SIZE` (up to the creation cap): the over-cap collection with its goal
    /// and rover, then the full checks once the table is small again.
    #[test]
    fn big_table_gc_matches_naive_model(
        hz in any_hz(),
        start_sel in any::<u64>(),
        n in 17_000..26_000usize,
        spread in 1..12u64,
        ticks in prop::collection::vec((0..=3u64, 0..300usize), 35..45),
    ) {
        let starts = [(-300i64 * hz as i64) as Jiffies, Jiffies::MAX - 1_000_000, start_sel as Jiffies];
        let mut clock = Clock { start: starts[(start_sel % 3) as usize], abs: 0 };
        let expiration = 15 * 60 * hz;
        let mut cluster = Cluster::new(vec![(3, false, 0, 0), (2, false, 0, 0), (5, false, 0, 0)]);
        let targets = targets(start_sel % 2 == 0, n, start_sel as u32);
        let mut table = Table::new();
        let mut naive = Naive::new();
        let mut rng = start_sel;
        for (i, &t) in targets.iter().enumerate() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            clock.abs += (rng >> 33) % spread;
            let got = table.schedule(t, clock.jiffies(), &cluster);
            prop_assert_eq!(got, naive.schedule(t, clock.abs, &cluster));
            if i % 3 == 0 {
                // Only some connections stay active, so overload comes and goes.
                cluster.connect(got.unwrap());
            }
        }
        same_tables(&table, &naive, &clock)?;
        for (minutes, reuse) in ticks {
            clock.abs += minutes * 60 * hz as u64;
            for k in 0..reuse {
                let t = targets[(k * 7919 + clock.abs as usize) % targets.len()];
                prop_assert_eq!(table.schedule(t, clock.jiffies(), &cluster),
                                naive.schedule(t, clock.abs, &cluster));
            }
            table.timer(clock.jiffies(), expiration, hz);
            naive.timer(clock.abs, expiration as i64, hz as i64);
            same_tables(&table, &naive, &clock)?;
        }
        prop_assert!(naive.gc.stats.over_cap_sweeps > 0);
    }
}
