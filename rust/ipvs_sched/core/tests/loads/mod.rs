//! Servers for the tests of the list schedulers (lc, sed, nq, fo, ovf, rr, twos) and of the
//! hashing ones (dh, sh, mh): their values, a view that logs every value the core reads, and
//! the same log for the transcriptions of the C code, so that a test compares not only the
//! choice but which values were read, and in which order.
#![allow(dead_code)]

use ipvs_sched_core::wlc::ServerLoad;
use proptest::prelude::*;
use std::cell::RefCell;

/// A real server's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Server {
    pub weight: i32,
    pub overloaded: bool,
    pub activeconns: i32,
    pub totalconns: i32,
    /// `IP_VS_DEST_CF_AVAILABLE` (dh only).
    pub available: bool,
}

pub fn server(weight: i32, activeconns: i32, totalconns: i32, overloaded: bool) -> Server {
    Server {
        weight,
        overloaded,
        activeconns,
        totalconns,
        available: true,
    }
}

/// A value read of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Weight,
    Flags,
    Active,
    Total,
    Available,
}

/// The reads made, in order: (server index, value).
#[derive(Default, Debug)]
pub struct Log(pub RefCell<Vec<(usize, Field)>>);

impl Log {
    pub fn take(&self) -> Vec<(usize, Field)> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// The list as the C transcriptions read it: each read logged.
pub struct CList<'a> {
    pub s: &'a [Server],
    pub log: &'a Log,
}

impl CList<'_> {
    fn note(&self, i: usize, f: Field) {
        self.log.0.borrow_mut().push((i, f));
    }
    pub fn len(&self) -> usize {
        self.s.len()
    }
    pub fn weight(&self, i: usize) -> i32 {
        self.note(i, Field::Weight);
        self.s[i].weight
    }
    /// `dest->flags & IP_VS_DEST_F_OVERLOAD`.
    pub fn overloaded(&self, i: usize) -> bool {
        self.note(i, Field::Flags);
        self.s[i].overloaded
    }
    pub fn activeconns(&self, i: usize) -> i32 {
        self.note(i, Field::Active);
        self.s[i].activeconns
    }
    pub fn totalconns(&self, i: usize) -> i32 {
        self.note(i, Field::Total);
        self.s[i].totalconns
    }
    pub fn available(&self, i: usize) -> bool {
        self.note(i, Field::Available);
        self.s[i].available
    }
    /// `ip_vs_dest_conn_overhead()`: `(activeconns << 8) + totalconns` in `int`.
    pub fn conn_overhead(&self, i: usize) -> i32 {
        (self.activeconns(i) << 8).wrapping_add(self.totalconns(i))
    }
}

/// A server as the core reads it: each read logged.
#[derive(Clone, Copy)]
pub struct Rec<'a> {
    pub id: usize,
    pub s: &'a Server,
    pub log: &'a Log,
}

impl Rec<'_> {
    pub fn note(&self, f: Field) {
        self.log.0.borrow_mut().push((self.id, f));
    }
}

impl ServerLoad for Rec<'_> {
    fn weight(&self) -> i32 {
        self.note(Field::Weight);
        self.s.weight
    }
    fn overloaded(&self) -> bool {
        self.note(Field::Flags);
        self.s.overloaded
    }
    fn activeconns(&self) -> i32 {
        self.note(Field::Active);
        self.s.activeconns
    }
    fn totalconns(&self) -> i32 {
        self.note(Field::Total);
        self.s.totalconns
    }
    fn available(&self) -> bool {
        self.note(Field::Available);
        self.s.available
    }
}

/// The list as the kernel module passes it: (index, logging view) in list order.
pub fn recs<'a>(
    s: &'a [Server],
    log: &'a Log,
) -> impl Iterator<Item = (usize, Rec<'a>)> + Clone + 'a {
    s.iter()
        .enumerate()
        .map(move |(id, s)| (id, Rec { id, s, log }))
}

/// Weights: mostly small, some 0, some huge, a few negative (IPVS refuses them, the cores
/// must still do what C does with them).
pub fn any_weight() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => Just(0),
        8 => 1..=4i32,
        3 => 1..=65535i32,
        1 => Just(i32::MAX),
        1 => prop::sample::select(vec![1 << 30, 1 << 24, 1_000_000_007]),
        1 => -3..0i32,
        1 => Just(i32::MIN),
    ]
}

/// Connection counters: mostly small, some large, some where C's `int` arithmetic wraps
/// (`activeconns << 8` past 2^23, sums near 2^31) and a few negative.
pub fn any_count() -> impl Strategy<Value = i32> {
    prop_oneof![
        6 => 0..=3i32,
        3 => 0..=1_000_000i32,
        1 => (1 << 23) - 2..(1 << 23) + 2,
        1 => i32::MAX - 3..=i32::MAX,
        1 => -3..0i32,
        1 => any::<i32>(),
    ]
}

pub fn any_server() -> impl Strategy<Value = Server> {
    (
        any_weight(),
        prop::bool::weighted(0.2),
        any_count(),
        any_count(),
        prop::bool::weighted(0.9),
    )
        .prop_map(
            |(weight, overloaded, activeconns, totalconns, available)| Server {
                weight,
                overloaded,
                activeconns,
                totalconns,
                available,
            },
        )
}

/// Servers with small values only, so that no arithmetic wraps: for the models written with
/// exact arithmetic.
pub fn any_small_server() -> impl Strategy<Value = Server> {
    (
        prop_oneof![2 => Just(0), 8 => 1..=6i32, 1 => Just(100)],
        prop::bool::weighted(0.2),
        0..=20i32,
        0..=40i32,
    )
        .prop_map(|(weight, overloaded, activeconns, extra)| Server {
            weight,
            overloaded,
            activeconns,
            totalconns: activeconns + extra,
            available: true,
        })
}

pub fn any_list() -> impl Strategy<Value = Vec<Server>> {
    prop::collection::vec(any_server(), 0..10)
}

pub fn any_small_list() -> impl Strategy<Value = Vec<Server>> {
    prop::collection::vec(any_small_server(), 0..10)
}
