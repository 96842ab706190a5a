//! A small simulated service shared by the lblc and lblcr model tests: real servers with
//! connection counters, the service's list, target addresses, a clock whose `jiffies` wrap,
//! and the rules of those schedulers written the naive way.
#![allow(dead_code)]

use ipvs_sched_core::lblc::{DestLoad, Jiffies};
use proptest::prelude::*;
use std::collections::HashMap;

/// A real server.
#[derive(Clone, Debug)]
pub struct Server {
    pub weight: i32,
    pub overloaded: bool,
    /// In the service's list (`IP_VS_DEST_CF_AVAILABLE`); otherwise in the trash.
    pub in_list: bool,
    pub activeconns: i32,
    pub totalconns: i32,
}

/// The service: all servers ever created (ids are indexes) and its list, in list order.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub servers: Vec<Server>,
    pub list: Vec<usize>,
}

#[derive(Clone, Debug)]
pub enum ClusterOp {
    /// A connection of the server becomes inactive.
    ConnIdle(usize),
    /// An inactive connection of the server goes away.
    ConnGone(usize),
    SetWeight(usize, i32),
    ToggleOverload(usize),
    /// The server leaves the service's list (to the trash).
    Remove(usize),
    /// The server comes back, at the front of the list as `list_add_rcu` puts it.
    Restore(usize),
}

impl Cluster {
    pub fn new(servers: Vec<(i32, bool, i32, i32)>) -> Self {
        let servers: Vec<Server> = servers
            .into_iter()
            .map(|(weight, overloaded, activeconns, extra)| Server {
                weight,
                overloaded,
                in_list: true,
                activeconns,
                totalconns: activeconns + extra,
            })
            .collect();
        let list = (0..servers.len()).collect();
        Cluster { servers, list }
    }

    pub fn load(&self, id: usize) -> DestLoad {
        let s = &self.servers[id];
        DestLoad {
            weight: s.weight,
            overloaded: s.overloaded,
            available: s.in_list,
            activeconns: s.activeconns,
            totalconns: s.totalconns,
        }
    }

    /// The service's list as the kernel module would pass it.
    pub fn dests(&self) -> impl Iterator<Item = (usize, DestLoad)> + Clone + '_ {
        self.list.iter().map(move |&id| (id, self.load(id)))
    }

    /// A new connection to the server.
    pub fn connect(&mut self, id: usize) {
        self.servers[id].activeconns += 1;
        self.servers[id].totalconns += 1;
    }

    pub fn apply(&mut self, op: &ClusterOp) {
        let n = self.servers.len();
        match *op {
            ClusterOp::ConnIdle(i) => {
                let s = &mut self.servers[i % n];
                if s.activeconns > 0 {
                    s.activeconns -= 1;
                }
            }
            ClusterOp::ConnGone(i) => {
                let s = &mut self.servers[i % n];
                if s.totalconns > s.activeconns {
                    s.totalconns -= 1;
                }
            }
            ClusterOp::SetWeight(i, w) => self.servers[i % n].weight = w,
            ClusterOp::ToggleOverload(i) => {
                let s = &mut self.servers[i % n];
                s.overloaded = !s.overloaded;
            }
            ClusterOp::Remove(i) => {
                let id = i % n;
                if self.servers[id].in_list {
                    self.servers[id].in_list = false;
                    self.list.retain(|&x| x != id);
                }
            }
            ClusterOp::Restore(i) => {
                let id = i % n;
                if !self.servers[id].in_list {
                    self.servers[id].in_list = true;
                    self.list.insert(0, id);
                }
            }
        }
    }

    /// overhead / weight, exactly, for comparisons.
    fn ratio_lt(&self, a: usize, b: usize) -> bool {
        let (sa, sb) = (&self.servers[a], &self.servers[b]);
        let oa = sa.activeconns as i128 * 256 + sa.totalconns as i128;
        let ob = sb.activeconns as i128 * 256 + sb.totalconns as i128;
        oa * (sb.weight as i128) < ob * (sa.weight as i128)
    }

    /// Among `ids`, the first with the smallest overhead / weight (weights positive).
    pub fn least_loaded(&self, ids: impl IntoIterator<Item = usize>) -> Option<usize> {
        let mut best: Option<usize> = None;
        for id in ids {
            if best.is_none_or(|b| self.ratio_lt(id, b)) {
                best = Some(id);
            }
        }
        best
    }

    /// Among `ids`, the first with the largest overhead / weight (weights positive).
    pub fn most_loaded(&self, ids: impl IntoIterator<Item = usize>) -> Option<usize> {
        let mut best: Option<usize> = None;
        for id in ids {
            if best.is_none_or(|b| self.ratio_lt(b, id)) {
                best = Some(id);
            }
        }
        best
    }

    /// Weighted least-connection server of the list: not overloaded, positive weight.
    pub fn naive_wlc(&self) -> Option<usize> {
        self.least_loaded(
            self.list
                .iter()
                .copied()
                .filter(|&id| !self.servers[id].overloaded && self.servers[id].weight > 0),
        )
    }

    /// The server has more connections than its weight and some server of the list is under
    /// half its weight.
    pub fn naive_overloaded(&self, id: usize) -> bool {
        let s = &self.servers[id];
        s.activeconns > s.weight
            && self
                .list
                .iter()
                .any(|&d| 2 * self.servers[d].activeconns < self.servers[d].weight)
    }
}

/// A target address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// The bucket, computed from the formula in `<linux/hash.h>` and `ip_vs_lblc_hashkey()`.
pub fn naive_bucket(t: &Target) -> usize {
    let key: u64 = match t {
        Target::V4(a) => u32::from_be_bytes(*a) as u64,
        Target::V6(a) => a
            .chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64)
            .fold(0, |x, w| x ^ w),
    };
    (((key * 0x61C8_8647) % (1u64 << 32)) >> 22) as usize
}

/// Time: `abs` ticks since the start, never wrapping; `jiffies` starts at `start` and wraps.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub start: Jiffies,
    pub abs: u64,
}

impl Clock {
    pub fn jiffies(&self) -> Jiffies {
        self.start.wrapping_add(self.abs as Jiffies)
    }

    pub fn at(&self, abs: u64) -> Jiffies {
        self.start.wrapping_add(abs as Jiffies)
    }
}

/// Starting points for `jiffies`: the kernel's own (`INITIAL_JIFFIES`, 5 minutes before the
/// wrap), right before the wrap, zero, and anywhere.
pub fn any_start(hz: i32) -> impl Strategy<Value = Jiffies> {
    let initial = (-300i64 * hz as i64) as Jiffies;
    prop_oneof![
        Just(initial),
        (0..200_000u64).prop_map(|x| Jiffies::MAX - x as Jiffies),
        Just(0),
        any::<u64>().prop_map(|x| x as Jiffies),
    ]
}

pub fn any_servers() -> impl Strategy<Value = Vec<(i32, bool, i32, i32)>> {
    prop::collection::vec(
        (
            prop_oneof![2 => Just(0), 8 => 1..=8i32, 1 => Just(100)],
            prop::bool::weighted(0.15),
            0..=12i32,
            0..=20i32,
        ),
        1..6,
    )
}

pub fn any_cluster_op() -> impl Strategy<Value = ClusterOp> {
    prop_oneof![
        4 => any::<usize>().prop_map(ClusterOp::ConnIdle),
        2 => any::<usize>().prop_map(ClusterOp::ConnGone),
        1 => (any::<usize>(), prop_oneof![Just(0), 1..=8i32]).prop_map(|(i, w)| ClusterOp::SetWeight(i, w)),
        1 => any::<usize>().prop_map(ClusterOp::ToggleOverload),
        1 => any::<usize>().prop_map(ClusterOp::Remove),
        1 => any::<usize>().prop_map(ClusterOp::Restore),
    ]
}

/// A pool of targets, IPv4 or IPv6 (one family per service).
pub fn targets(v6: bool, n: usize, salt: u32) -> Vec<Target> {
    (0..n as u32)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B1) ^ salt;
            if v6 {
                let mut a = [0u8; 16];
                a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                a[12..].copy_from_slice(&x.to_be_bytes());
                a[8] = (i % 7) as u8;
                Target::V6(a)
            } else {
                Target::V4(x.to_be_bytes())
            }
        })
        .collect()
}

/// What the garbage-collection model went through, to check that a test covered it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub refused: usize,
    pub full_checks: usize,
    pub full_removed: usize,
    pub over_cap_sweeps: usize,
    pub stopped_at_goal: usize,
    pub over_cap_removed: usize,
}

/// The periodic garbage collection of lblc and lblcr (tables of 1024 buckets), the naive way:
/// every 30th quiet run drops what has been idle for the expiration; a table over 16384
/// entries drops entries idle for 6 minutes, bucket after bucket from the one after the
/// rover, until 4/3 of the excess (at most 8192) went.
#[derive(Clone, Debug)]
pub struct NaiveGc {
    pub counter: i32,
    pub rover: usize,
    pub stats: Stats,
}

impl NaiveGc {
    pub fn new() -> Self {
        NaiveGc {
            counter: 1,
            rover: 0,
            stats: Stats::default(),
        }
    }

    pub fn run<V>(
        &mut self,
        map: &mut HashMap<Target, V>,
        lastuse: impl Fn(&V) -> u64,
        now: u64,
        expiration: i64,
        hz: i64,
    ) {
        let idle = |v: &V| now as i128 - lastuse(v) as i128;
        if self.counter % 30 == 0 {
            let before = map.len();
            map.retain(|_, v| idle(v) < expiration as i128);
            self.counter = 1;
            self.stats.full_checks += 1;
            self.stats.full_removed += before - map.len();
        } else if map.len() <= 16384 {
            self.counter += 1;
        } else {
            let mut goal = ((map.len() as i64 - 16384) * 4 / 3).min(8192);
            // The entries idle for 6 minutes, by bucket.
            let mut stale: HashMap<usize, Vec<Target>> = HashMap::new();
            for (t, v) in map.iter() {
                if idle(v) >= 6 * 60 * hz as i128 {
                    stale.entry(naive_bucket(t)).or_default().push(*t);
                }
            }
            // A bucket is cleaned whole; the goal is looked at between buckets.
            let mut b = self.rover;
            for _ in 0..1024 {
                b = (b + 1) % 1024;
                for t in stale.remove(&b).unwrap_or_default() {
                    map.remove(&t);
                    goal -= 1;
                    self.stats.over_cap_removed += 1;
                }
                if goal <= 0 {
                    self.stats.stopped_at_goal += 1;
                    break;
                }
            }
            self.rover = b;
            self.stats.over_cap_sweeps += 1;
        }
    }
}
