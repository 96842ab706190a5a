//! lblcr's rules: exact cases, and a table of server sets built from them (as the kernel
//! module builds it) against a reference model that keeps a plain map from target to server
//! set and writes the rules the naive way.

mod common;

use common::*;
use ipvs_sched_core::{lblc, lblcr::*};
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

fn set_of(loads: &[DestLoad]) -> impl Iterator<Item = (usize, DestLoad)> + Clone + '_ {
    loads.iter().copied().enumerate()
}

// ---------------------------------------------------------------------------------------------
// Exact cases.

#[test]
fn constants_as_c() {
    assert_eq!((TAB_BITS, TAB_SIZE, TAB_MASK), (10, 1024, 1023));
    assert_eq!((MAX_SIZE, CREATE_LIMIT), (16384, 24576));
    assert_eq!(default_expiration(1000), 86_400_000);
    assert_eq!(hashkey_v4([10, 0, 0, 1]), 159);
    assert_eq!(hashkey_v4([10, 0, 0, 1]), lblc::hashkey_v4([10, 0, 0, 1]));
    let a = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(hashkey_v6(a), hash_32(0x2001_0db9, 10));
    assert!(may_create(CREATE_LIMIT - 1) && !may_create(CREATE_LIMIT));
}

#[test]
fn set_min_as_c() {
    // Ratios 2/2 = 1, 1/1 = 1, 1/2: the last is the least loaded.
    let s = [load(2, 2), load(1, 1), load(2, 1)];
    assert_eq!(set_min(set_of(&s)), Some(2));
    // Ties: the first stays.
    let s = [load(2, 2), load(1, 1)];
    assert_eq!(set_min(set_of(&s)), Some(0));
    // The first candidate needs weight > 0, no overload flag, available.
    let s = [
        load(0, 0),
        DestLoad {
            overloaded: true,
            ..load(9, 0)
        },
        DestLoad {
            available: false,
            ..load(9, 0)
        },
        load(1, 5),
    ];
    assert_eq!(set_min(set_of(&s)), Some(3));
    // Later members: overloaded or unavailable ones never win, a weight-0 one cannot.
    let s = [
        load(1, 5),
        DestLoad {
            overloaded: true,
            ..load(9, 0)
        },
        DestLoad {
            available: false,
            ..load(9, 0)
        },
        load(0, 0),
    ];
    assert_eq!(set_min(set_of(&s)), Some(0));
    assert_eq!(set_min(set_of(&[load(0, 0)])), None);
    assert_eq!(set_min(set_of(&[])), None);
}

#[test]
fn set_max_as_c() {
    let s = [load(2, 1), load(1, 1), load(2, 2)];
    // Ratios 1/2, 1, 1: the first of the two most loaded.
    assert_eq!(set_max(set_of(&s)), Some(1));
    // Weight-0 members are skipped, overloaded and unavailable ones count.
    let s = [
        load(0, 50),
        load(4, 1),
        DestLoad {
            overloaded: true,
            ..load(1, 3)
        },
        DestLoad {
            available: false,
            ..load(1, 4)
        },
        load(0, 90),
    ];
    assert_eq!(set_max(set_of(&s)), Some(3));
    assert_eq!(set_max(set_of(&[load(0, 3), load(0, 0)])), None);
}

#[test]
fn drop_only_after_strictly_more_than_the_expiration() {
    let e = 1000;
    for lastmod in [0, 500, Jiffies::MAX - 10, Jiffies::MAX] {
        assert!(!should_drop_most_loaded(
            1,
            lastmod,
            lastmod.wrapping_add(5000),
            e
        ));
        assert!(!should_drop_most_loaded(
            2,
            lastmod,
            lastmod.wrapping_add(1000),
            e
        ));
        assert!(should_drop_most_loaded(
            2,
            lastmod,
            lastmod.wrapping_add(1001),
            e
        ));
        assert!(!should_drop_most_loaded(
            3,
            lastmod,
            lastmod.wrapping_sub(1),
            e
        ));
    }
}

/// `schedule_cached` on `set` last changed at 0, at `now` with an expiration of 100: the
/// choice, and the member `drop_most_loaded` erases (the set's `set_max`, as the module does).
fn cached(
    set: &[(usize, DestLoad)],
    now: Jiffies,
    list: &[(usize, DestLoad)],
) -> (Choice<usize>, Option<usize>) {
    let mut erased = None;
    let choice = schedule_cached(
        set.iter().copied(),
        set.len(),
        || SetAge {
            lastmod: 0,
            now,
            expiration: 100,
        },
        || erased = set_max(set.iter().copied()),
        list.iter().copied(),
    );
    (choice, erased)
}

#[test]
fn schedule_cached_as_c() {
    let list = [(10usize, load(4, 0)), (11, load(4, 3))];
    // Member 0 (ratio 1/4) is the least loaded of the set and not overloaded.
    let set = [(10usize, load(4, 1)), (11, load(4, 3))];
    assert_eq!(cached(&set, 10, &list), (Choice::Member(10), None));
    // Past the expiration the most loaded member is erased as well.
    assert_eq!(cached(&set, 101, &list), (Choice::Member(10), Some(11)));
    // The erased member can be the one returned: ratios are equal, min and max both take
    // the first.
    let set = [(10usize, load(4, 1)), (11, load(4, 1))];
    assert_eq!(cached(&set, 101, &list), (Choice::Member(10), Some(10)));
    // The least loaded member is over its weight while server 10 is under half of it: the
    // service's least-connection server is added. A set of one member is never stale, and
    // its age is not read.
    let set = [(11usize, load(2, 3))];
    let never = || -> SetAge { unreachable!("the age of a set of one member is read") };
    let choice = schedule_cached(set.iter().copied(), 1, never, || {}, list.iter().copied());
    assert_eq!(choice, Choice::Add(10));
    // No usable member (all in the trash).
    let set = [(
        12usize,
        DestLoad {
            available: false,
            ..load(4, 0)
        },
    )];
    assert_eq!(cached(&set, 1, &list), (Choice::Add(10), None));
    // And no server at all.
    let none = [(10usize, load(0, 0))];
    assert_eq!(cached(&set, 1, &none), (Choice::NoDest, None));
    assert_eq!(schedule_uncached(none.iter().copied()), None);
    assert_eq!(schedule_uncached(list.iter().copied()), Some(10));
}

// ---------------------------------------------------------------------------------------------
// The table as the kernel module keeps it, built from the rules above.

#[derive(Clone, Debug)]
struct Entry {
    target: Target,
    set: Vec<usize>,
    lastmod: Jiffies,
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

    fn schedule(&mut self, t: Target, now: Jiffies, expiration: i32, c: &Cluster) -> Option<usize> {
        let b = bucket_of(&t);
        if let Some(en) = self.buckets[b].iter_mut().find(|e| e.target == t) {
            en.lastuse = now;
            // The members as the packet path saw them; the drop changes the set itself.
            let members: Vec<_> = en.set.iter().map(|&id| (id, c.load(id))).collect();
            let age = SetAge {
                lastmod: en.lastmod,
                now,
                expiration,
            };
            let choice = schedule_cached(
                members,
                en.set.len(),
                || age,
                || {
                    if en.set.len() > 1 {
                        let most = set_max(en.set.iter().map(|&id| (id, c.load(id))));
                        if let Some(m) = most {
                            let i = en.set.iter().position(|&x| x == m).unwrap();
                            en.set.remove(i);
                            en.lastmod = now;
                        }
                    }
                },
                c.dests(),
            );
            return match choice {
                Choice::Member(x) => Some(x),
                Choice::Add(x) => {
                    if !en.set.contains(&x) {
                        en.set.insert(0, x);
                        en.lastmod = now;
                    }
                    Some(x)
                }
                Choice::NoDest => None,
            };
        }
        let x = schedule_uncached(c.dests())?;
        if may_create(self.entries) {
            self.buckets[b].insert(
                0,
                Entry {
                    target: t,
                    set: vec![x],
                    lastmod: now,
                    lastuse: now,
                },
            );
            self.entries += 1;
        }
        Some(x)
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
}

// ---------------------------------------------------------------------------------------------
// The reference: a map from target to a server set (newest first) with its times.

#[derive(Clone, Debug)]
struct NaiveEntry {
    set: Vec<usize>,
    lastmod: u64,
    lastuse: u64,
}

struct Naive {
    map: HashMap<Target, NaiveEntry>,
    gc: NaiveGc,
}

impl Naive {
    fn new() -> Self {
        Naive {
            map: HashMap::new(),
            gc: NaiveGc::new(),
        }
    }

    fn schedule(&mut self, t: Target, now: u64, expiration: i64, c: &Cluster) -> Option<usize> {
        let Some(e) = self.map.get_mut(&t) else {
            let best = c.naive_wlc()?;
            if self.map.len() < 16384 * 3 / 2 {
                self.map.insert(
                    t,
                    NaiveEntry {
                        set: vec![best],
                        lastmod: now,
                        lastuse: now,
                    },
                );
            } else {
                self.gc.stats.refused += 1;
            }
            return Some(best);
        };
        e.lastuse = now;
        // Least loaded member that may take a connection.
        let usable = |&id: &usize| {
            let s = &c.servers[id];
            !s.overloaded && s.in_list && s.weight > 0
        };
        let candidate = c.least_loaded(e.set.iter().copied().filter(usable));
        // A set unchanged for longer than the expiration loses its most loaded member.
        if e.set.len() > 1 && (now - e.lastmod) as i64 > expiration {
            if let Some(m) =
                c.most_loaded(e.set.iter().copied().filter(|&id| c.servers[id].weight > 0))
            {
                e.set.retain(|&x| x != m);
                e.lastmod = now;
            }
        }
        if let Some(x) = candidate {
            if !c.naive_overloaded(x) {
                return Some(x);
            }
        }
        let best = c.naive_wlc()?;
        if !e.set.contains(&best) {
            e.set.insert(0, best);
            e.lastmod = now;
        }
        Some(best)
    }

    fn timer(&mut self, now: u64, expiration: i64, hz: i64) {
        self.gc
            .run(&mut self.map, |e| e.lastuse, now, expiration, hz);
    }
}

fn same_tables(table: &Table, naive: &Naive, clock: &Clock) -> Result<(), TestCaseError> {
    let snap: HashMap<Target, &Entry> = table
        .buckets
        .iter()
        .flatten()
        .map(|e| (e.target, e))
        .collect();
    prop_assert_eq!(table.entries as usize, snap.len());
    prop_assert_eq!(snap.len(), naive.map.len());
    for (t, n) in &naive.map {
        let e = snap.get(t);
        prop_assert!(e.is_some(), "target {:?} missing", t);
        let e = e.unwrap();
        prop_assert_eq!(&e.set, &n.set);
        prop_assert_eq!(
            (e.lastmod, e.lastuse),
            (clock.at(n.lastmod), clock.at(n.lastuse))
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

/// Times for HZ = 1000, scaled to the test's HZ.
fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => any::<usize>().prop_map(Op::Connect),
        6 => any_cluster_op().prop_map(Op::Cluster),
        3 => prop_oneof![0..=3u64, Just(1000), Just(60_000), Just(360_000), 0..=1_800_000u64]
            .prop_map(Op::Advance),
        1 => Just(Op::Tick),
    ]
}

fn any_hz() -> impl Strategy<Value = i32> {
    prop::sample::select(vec![100, 250, 300, 1000])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn set_choices_match_naive(
        servers in prop::collection::vec((0..=6i32, 0..=20i32, any::<bool>(), any::<bool>()), 0..7),
    ) {
        let cluster = Cluster {
            servers: servers.iter().map(|&(weight, activeconns, overloaded, in_list)| Server {
                weight, overloaded, in_list, activeconns, totalconns: activeconns * 3,
            }).collect(),
            list: vec![],
        };
        let set = || (0..servers.len()).map(|id| (id, cluster.load(id)));
        let usable = |&id: &usize| {
            let s = &cluster.servers[id];
            !s.overloaded && s.in_list && s.weight > 0
        };
        prop_assert_eq!(set_min(set()), cluster.least_loaded((0..servers.len()).filter(usable)));
        prop_assert_eq!(set_max(set()),
            cluster.most_loaded((0..servers.len()).filter(|&id| cluster.servers[id].weight > 0)));
    }

    #[test]
    fn table_matches_naive_model(
        hz in any_hz(),
        start_sel in any::<u64>(),
        servers in any_servers(),
        v6 in any::<bool>(),
        n_targets in 1..30usize,
        expiration_s in prop::sample::select(vec![1i32, 60, 600, 24 * 3600]),
        ops in prop::collection::vec(any_op(), 0..200),
    ) {
        let starts = [(-300i64 * hz as i64) as Jiffies, Jiffies::MAX - 50_000, 0, start_sel as Jiffies];
        let mut clock = Clock { start: starts[(start_sel % 4) as usize], abs: 0 };
        let expiration = expiration_s * hz;
        let mut cluster = Cluster::new(servers);
        let targets = targets(v6, n_targets, start_sel as u32);
        let mut table = Table::new();
        let mut naive = Naive::new();
        for op in ops {
            match op {
                Op::Connect(i) => {
                    let t = targets[i % targets.len()];
                    let got = table.schedule(t, clock.jiffies(), expiration, &cluster);
                    let want = naive.schedule(t, clock.abs, expiration as i64, &cluster);
                    prop_assert_eq!(got, want);
                    if let Some(d) = got {
                        let s = &cluster.servers[d];
                        prop_assert!(s.weight > 0 && s.in_list);
                        cluster.connect(d);
                    }
                }
                Op::Cluster(op) => cluster.apply(&op),
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
    #![proptest_config(ProptestConfig::with_cases(3))]

    /// A table over `MAX_SIZE`: lblcr's garbage collection with its own constants.
    #[test]
    fn big_table_gc_matches_naive_model(
        hz in any_hz(),
        start_sel in any::<u64>(),
        n in 17_000..26_000usize,
        ticks in prop::collection::vec(0..=3u64, 35..40),
    ) {
        let mut clock = Clock { start: (-300i64 * hz as i64) as Jiffies, abs: 0 };
        let expiration = 15 * 60 * hz;
        let cluster = Cluster::new(vec![(3, false, 0, 0), (2, false, 0, 0)]);
        let targets = targets(start_sel % 2 == 0, n, start_sel as u32);
        let mut table = Table::new();
        let mut naive = Naive::new();
        for (i, &t) in targets.iter().enumerate() {
            clock.abs += (i as u64 ^ start_sel) % 11;
            prop_assert_eq!(table.schedule(t, clock.jiffies(), expiration, &cluster),
                            naive.schedule(t, clock.abs, expiration as i64, &cluster));
        }
        same_tables(&table, &naive, &clock)?;
        for minutes in ticks {
            clock.abs += minutes * 60 * hz as u64;
            table.timer(clock.jiffies(), expiration, hz);
            naive.timer(clock.abs, expiration as i64, hz as i64);
            same_tables(&table, &naive, &clock)?;
        }
        prop_assert!(naive.gc.stats.over_cap_sweeps > 0);
    }
}
