//! The wrr stepping against two models:
//!
//! * the textbook interleaved weighted round robin, written independently: with `g` the gcd
//!   of the positive weights and `M = max / g`, a cycle is `M` rounds and round `r` serves,
//!   in list order, the servers with `weight >= (M - r) * g` that are not overloaded;
//! * a line-by-line transliteration of `ip_vs_wrr.c` over a doubly linked list with a head
//!   node (pointer semantics, no shortcuts), for small weights.

use ipvs_sched_core::wrr::{
    gcd, gcd_weight, max_weight, DestWeight, Levels, Mark, NoDest, Position,
};
use proptest::prelude::*;

fn dw(weight: i32, overloaded: bool) -> DestWeight {
    DestWeight { weight, overloaded }
}

fn dests(weights: &[i32]) -> Vec<DestWeight> {
    weights.iter().map(|&w| dw(w, false)).collect()
}

fn new_mark(d: &[DestWeight]) -> Mark {
    Mark::new(d.iter().map(|d| d.weight))
}

/// The walk of a list of `n` servers after `from`: each server is its index, which is also
/// its cursor (an index past the end of the list means "at the end").
fn after(from: Position, n: usize) -> impl Iterator<Item = (usize, usize)> {
    let first = match from {
        Position::Head => 0,
        Position::At(i) => i.saturating_add(1),
    };
    (first..n).map(|i| (i, i))
}

fn pick(mark: &mut Mark, d: &[DestWeight]) -> Option<usize> {
    mark.pick(|from| after(from, d.len()), |&i| d[i])
}

fn sequence(mark: &mut Mark, d: &[DestWeight], n: usize) -> String {
    (0..n)
        .map(|_| match pick(mark, d) {
            Some(i) => char::from(b'A' + i as u8),
            None => '-',
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Exact cases.

#[test]
fn weights_4_3_2_give_aababcabc() {
    let d = dests(&[4, 3, 2]);
    let mut mark = new_mark(&d);
    assert_eq!((mark.di(), mark.mw(), mark.cw()), (1, 4, 4));
    assert_eq!(sequence(&mut mark, &d, 27), "AABABCABC".repeat(3));
}

#[test]
fn common_divisor_is_stepped_over() {
    // gcd 2: levels mw = 8 - 1 = 7, 5, 3, 1 -> same cycle as 4, 3, 2.
    let d = dests(&[8, 6, 4]);
    let mut mark = new_mark(&d);
    assert_eq!((mark.di(), mark.mw()), (2, 7));
    assert_eq!(sequence(&mut mark, &d, 18), "AABABCABC".repeat(2));
    // Equal weights: plain round robin, one level (mw = 1).
    let d = dests(&[5, 5, 5]);
    let mut mark = new_mark(&d);
    assert_eq!((mark.di(), mark.mw()), (5, 1));
    assert_eq!(sequence(&mut mark, &d, 7), "ABCABCA");
}

#[test]
fn weight_zero_and_overloaded_are_skipped() {
    let d = [dw(4, true), dw(3, false), dw(0, false), dw(2, false)];
    let mut mark = new_mark(&d);
    // Levels 4 (nothing: A overloaded), 3: B, 2: B D, 1: B D.
    assert_eq!(sequence(&mut mark, &d, 10), "BBDBDBBDBD");
}

#[test]
fn all_weights_zero_or_no_server_gives_none_and_changes_nothing() {
    for weights in [&[0, 0, 0][..], &[], &[0, -3]] {
        let d = dests(weights);
        let mut mark = new_mark(&d);
        let before = mark;
        assert_eq!(mark.mw(), 0);
        assert_eq!(
            mark.schedule(|from| after(from, d.len()), |&i| d[i]),
            Err(NoDest::NoneAvailable)
        );
        assert_eq!(mark, before);
    }
    assert_eq!(NoDest::NoneAvailable.message(), "no destination available");
    assert_eq!(
        NoDest::AllOverloaded.message(),
        "no destination available: all destinations are overloaded"
    );
}

#[test]
fn gcd_and_max_weight_as_c() {
    assert_eq!(gcd(12, 18), 6);
    assert_eq!(gcd(0, 7), 7);
    assert_eq!(gcd(7, 0), 7);
    assert_eq!(gcd(i32::MAX as u32, 3), 1);
    assert_eq!(gcd_weight([4, 0, 6, -2, 10]), 2);
    assert_eq!(gcd_weight([0, -1]), 1);
    assert_eq!(gcd_weight([]), 1);
    assert_eq!(max_weight([4, 0, 6, -2, 10]), 10);
    assert_eq!(max_weight([-5, -1]), 0);
    assert_eq!(max_weight([i32::MAX, 1]), i32::MAX);
}

#[test]
fn state_when_cl_wraps_past_the_list_head() {
    let d = dests(&[4, 3, 2]);
    let mut mark = new_mark(&d);
    sequence(&mut mark, &d, 9);
    // The last pick of a cycle: C at cw = 1.
    assert_eq!((mark.position(), mark.cw()), (Position::At(2), 1));
    // Next: nothing after C, cw -> 0 -> mw (restarted), A at cw = 4.
    assert_eq!(pick(&mut mark, &d), Some(0));
    assert_eq!((mark.position(), mark.cw()), (Position::At(0), 4));
    // Next: nothing after A at 4, cw = 3 from the head: A again.
    assert_eq!(pick(&mut mark, &d), Some(0));
    assert_eq!((mark.position(), mark.cw()), (Position::At(0), 3));
}

#[test]
fn failures_leave_the_position_as_c() {
    // From the head: every level tried, back at the head with cw = mw.
    let d = [dw(4, true), dw(3, true)];
    let mut mark = new_mark(&d);
    assert_eq!(
        mark.schedule(|from| after(from, d.len()), |&i| d[i]),
        Err(NoDest::AllOverloaded)
    );
    assert_eq!((mark.position(), mark.cw()), (Position::Head, 4));

    // From a server at cw = 1: the last pass after the wrap stops at that server (C's `stop`)
    // and the position stays there, cw = 1.
    let mut d = dests(&[4, 3]);
    let mut mark = new_mark(&d);
    assert_eq!(sequence(&mut mark, &d, 7), "AABABAB");
    assert_eq!((mark.position(), mark.cw()), (Position::At(1), 1));
    d[0].overloaded = true;
    d[1].overloaded = true;
    assert_eq!(
        mark.schedule(|from| after(from, d.len()), |&i| d[i]),
        Err(NoDest::AllOverloaded)
    );
    assert_eq!((mark.position(), mark.cw()), (Position::At(1), 1));

    // From a server at cw > 1: down to the last pass over the whole list, then back at the
    // head with cw = mw.
    let mut d = dests(&[4, 3]);
    let mut mark = new_mark(&d);
    assert_eq!(sequence(&mut mark, &d, 2), "AA");
    assert_eq!((mark.position(), mark.cw()), (Position::At(0), 3));
    d[0].overloaded = true;
    d[1].overloaded = true;
    assert_eq!(
        mark.schedule(|from| after(from, d.len()), |&i| d[i]),
        Err(NoDest::AllOverloaded)
    );
    assert_eq!((mark.position(), mark.cw()), (Position::Head, 4));
}

#[test]
fn dest_changed_resets_the_position_and_moves_cw_onto_the_new_grid() {
    let d = dests(&[4, 3, 2]);
    let mut mark = new_mark(&d);
    sequence(&mut mark, &d, 2);
    assert_eq!((mark.position(), mark.cw()), (Position::At(0), 3));
    // Weights 8, 6, 4: di = 2, mw = 7; cw = 3 <= 7 -> (3 / 2) * 2 + 1 = 3.
    mark.dest_changed([8, 6, 4]);
    assert_eq!(
        (mark.position(), mark.cw(), mark.mw(), mark.di()),
        (Position::Head, 3, 7, 2)
    );
    // Weights 4, 2: di = 2, mw = 3; cw = 3 stays 3 ((3/2)*2+1).
    mark.dest_changed([4, 2]);
    assert_eq!((mark.cw(), mark.mw(), mark.di()), (3, 3, 2));
    // Weights 1, 1: di = 1, mw = 1; cw = 3 > mw -> mw.
    mark.dest_changed([1, 1]);
    assert_eq!((mark.cw(), mark.mw(), mark.di()), (1, 1, 1));
    // All zero: mw = 0, cw > mw -> 0; then back to weights: cw == 0 -> mw.
    mark.dest_changed([0, 0]);
    assert_eq!((mark.cw(), mark.mw(), mark.di()), (0, 0, 1));
    mark.dest_changed([6, 9]);
    assert_eq!((mark.cw(), mark.mw(), mark.di()), (7, 7, 3));
    // A level already on the grid stays: cw = 4 with di = 3 -> (4 / 3) * 3 + 1 = 4.
    let mut mark = Mark::new([6, 9]);
    let d = dests(&[6, 9]);
    assert_eq!(pick(&mut mark, &d), Some(1)); // cw 7: B
    assert_eq!(pick(&mut mark, &d), Some(0)); // cw 4: A
    assert_eq!(mark.cw(), 4);
    mark.dest_changed([6, 9]);
    assert_eq!(mark.cw(), 4);
}

#[test]
fn one_huge_weight_does_not_walk_every_level() {
    // C walks the list once per level here (2^31 passes per pick); the result must be C's:
    // B at level 1, then after the wrap again down to level 1.
    let d = [dw(i32::MAX, true), dw(1, false)];
    let mut mark = new_mark(&d);
    for _ in 0..5 {
        assert_eq!(pick(&mut mark, &d), Some(1));
        assert_eq!((mark.position(), mark.cw()), (Position::At(1), 1));
    }
    let d = [dw(i32::MAX, false), dw(1, false)];
    let mut mark = new_mark(&d);
    for _ in 0..5 {
        assert_eq!(pick(&mut mark, &d), Some(0));
    }
    assert_eq!(mark.cw(), i32::MAX - 4);
}

#[test]
fn documented_window_between_list_add_and_add_dest() {
    // Index cursors (these tests', not the kernel's list nodes): IPVS links a new server at the
    // front, then calls add_dest. A pick in between continues from the old index, i.e. one
    // server earlier than C (which continues after the same server). The add_dest that
    // follows resets the position as in C.
    let d = dests(&[1, 1, 1]);
    let mut mark = new_mark(&d);
    assert_eq!(pick(&mut mark, &d), Some(0));
    assert_eq!(pick(&mut mark, &d), Some(1)); // B, at index 1
    let d2 = dests(&[1, 1, 1, 1]); // D linked at the front: D A B C
    assert_eq!(pick(&mut mark, &d2), Some(2)); // index 2 = B again (C would take C)
    mark.dest_changed(d2.iter().map(|d| d.weight));
    assert_eq!(mark.position(), Position::Head);
    assert_eq!(pick(&mut mark, &d2), Some(0));
    // An index past the end (a deleted last server) just means "at the end".
    let mut mark = new_mark(&d2);
    sequence(&mut mark, &d2, 4);
    assert_eq!(mark.position(), Position::At(3));
    assert_eq!(pick(&mut mark, &d2[..2]), Some(0));
}

// ---------------------------------------------------------------------------------------------
// The textbook model.

fn textbook_gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        textbook_gcd(b, a % b)
    }
}

/// Interleaved weighted round robin: `rounds` rounds per cycle; round `r` serves the servers
/// with `weight >= (rounds - r) * g`. The state is the round and the last server served in it.
#[derive(Clone, Debug)]
struct Iwrr {
    g: i64,
    rounds: i64,
    round: i64,
    pos: Option<usize>,
}

impl Iwrr {
    fn config(weights: &[i32]) -> (i64, i64) {
        let pos: Vec<i64> = weights
            .iter()
            .map(|&w| w as i64)
            .filter(|&w| w > 0)
            .collect();
        let g = pos.iter().fold(0, |g, &w| textbook_gcd(w, g));
        if g == 0 {
            (1, 0)
        } else {
            (g, pos.iter().max().unwrap() / g)
        }
    }

    fn new(weights: &[i32]) -> Self {
        let (g, rounds) = Self::config(weights);
        Iwrr {
            g,
            rounds,
            round: 0,
            pos: None,
        }
    }

    /// The weight level C uses for the current round.
    fn level(&self) -> i64 {
        if self.rounds == 0 {
            0
        } else {
            (self.rounds - self.round - 1) * self.g + 1
        }
    }

    fn serves(&self, d: &DestWeight, round: i64) -> bool {
        !d.overloaded && d.weight as i64 >= (self.rounds - round) * self.g
    }

    /// First round in `from..to` in which some server is served (rounds are served by a
    /// server from `rounds - weight / g` on).
    fn first_round(&self, d: &[DestWeight], from: i64, to: i64) -> Option<i64> {
        let best = d
            .iter()
            .filter(|d| !d.overloaded)
            .map(|d| d.weight as i64)
            .max()?;
        if best < self.g {
            return None;
        }
        let r = from.max(self.rounds - best / self.g);
        (r < to).then_some(r)
    }

    fn next(&mut self, d: &[DestWeight]) -> Option<usize> {
        if self.rounds == 0 {
            return None;
        }
        let first_in = |round: i64, range: std::ops::Range<usize>| {
            range.into_iter().find(|&i| self.serves(&d[i], round))
        };
        // Rest of the current round.
        let start = self.pos.map_or(0, |p| p + 1);
        let mut found = first_in(self.round, start.min(d.len())..d.len()).map(|i| (self.round, i));
        // Later rounds of the cycle, then the next cycle up to the current round.
        if found.is_none() {
            if let Some(r) = self.first_round(d, self.round + 1, self.rounds) {
                found = first_in(r, 0..d.len()).map(|i| (r, i));
            }
        }
        if found.is_none() {
            if let Some(r) = self.first_round(d, 0, self.round) {
                found = first_in(r, 0..d.len()).map(|i| (r, i));
            }
        }
        if found.is_none() {
            found = first_in(self.round, 0..start.min(d.len())).map(|i| (self.round, i));
        }
        match found {
            Some((r, i)) => {
                self.round = r;
                self.pos = Some(i);
                Some(i)
            }
            None => {
                // C's failure leaves the mark at a server only when it started there in the
                // last round; otherwise at the head of a new cycle.
                if !(self.pos.is_some() && self.round == self.rounds - 1) {
                    self.round = 0;
                    self.pos = None;
                }
                None
            }
        }
    }

    /// A server was added, deleted or edited: C keeps its weight level, moved onto the new
    /// grid, and starts again at the head.
    fn changed(&mut self, weights: &[i32]) {
        let cw = self.level();
        let (g, rounds) = Self::config(weights);
        let mw = if rounds == 0 { 0 } else { rounds * g - g + 1 };
        let cw = if cw > mw || cw == 0 {
            mw
        } else if g > 1 {
            (cw / g) * g + 1
        } else {
            cw
        };
        self.g = g;
        self.rounds = rounds;
        self.round = if rounds == 0 {
            0
        } else {
            rounds - 1 - (cw - 1) / g
        };
        self.pos = None;
    }
}

#[derive(Clone, Debug)]
enum Op {
    Pick,
    ToggleOverload(usize),
    SetWeight(usize, i32),
    AddFront(i32),
    Delete(usize),
}

fn any_weight() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => Just(0),
        10 => 1..=6i32,
        3 => prop::sample::select(vec![8, 12, 16, 24, 36, 100]),
        1 => prop::sample::select(vec![i32::MAX, 1 << 30, 1_000_000_007]),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => Just(Op::Pick),
        3 => any::<usize>().prop_map(Op::ToggleOverload),
        2 => (any::<usize>(), any_weight()).prop_map(|(i, w)| Op::SetWeight(i, w)),
        1 => any_weight().prop_map(Op::AddFront),
        1 => any::<usize>().prop_map(Op::Delete),
    ]
}

fn any_dests() -> impl Strategy<Value = Vec<DestWeight>> {
    prop::collection::vec(
        (any_weight(), prop::bool::weighted(0.2)).prop_map(|(w, o)| dw(w, o)),
        0..8,
    )
}

fn weights_of(d: &[DestWeight]) -> Vec<i32> {
    d.iter().map(|d| d.weight).collect()
}

fn same_state(mark: &Mark, model: &Iwrr) -> bool {
    let pos = match mark.position() {
        Position::Head => None,
        Position::At(i) => Some(i),
    };
    i64::from(mark.cw()) == model.level() && pos == model.pos
}

// ---------------------------------------------------------------------------------------------
// The transliteration of ip_vs_wrr.c over a linked list.

const HEAD: usize = 0;

#[derive(Clone, Debug)]
struct Node {
    next: usize,
    prev: usize,
    weight: i32,
    overloaded: bool,
}

/// `svc->destinations` with `struct ip_vs_wrr_mark`; node 0 is the list head. Deleted nodes
/// stay in the arena with their old `next`, as `list_del_rcu` leaves them.
#[derive(Clone, Debug)]
struct CWrr {
    nodes: Vec<Node>,
    cl: usize,
    cw: i32,
    mw: i32,
    di: i32,
}

impl CWrr {
    fn new(d: &[DestWeight]) -> Self {
        let mut c = CWrr {
            nodes: vec![Node {
                next: HEAD,
                prev: HEAD,
                weight: 0,
                overloaded: false,
            }],
            cl: HEAD,
            cw: 0,
            mw: 0,
            di: 0,
        };
        for x in d.iter().rev() {
            c.list_add(x.weight, x.overloaded);
        }
        c.cl = HEAD;
        c.di = c.gcd_weight();
        c.mw = c.max_weight() - (c.di - 1);
        c.cw = c.mw;
        c
    }

    fn list(&self) -> Vec<usize> {
        let mut v = vec![];
        let mut n = self.nodes[HEAD].next;
        while n != HEAD {
            v.push(n);
            n = self.nodes[n].next;
        }
        v
    }

    fn list_add(&mut self, weight: i32, overloaded: bool) {
        let id = self.nodes.len();
        let first = self.nodes[HEAD].next;
        self.nodes.push(Node {
            next: first,
            prev: HEAD,
            weight,
            overloaded,
        });
        self.nodes[first].prev = id;
        self.nodes[HEAD].next = id;
    }

    fn list_del(&mut self, id: usize) {
        let (p, n) = (self.nodes[id].prev, self.nodes[id].next);
        self.nodes[p].next = n;
        self.nodes[n].prev = p;
    }

    fn gcd_weight(&self) -> i32 {
        let mut g: i32 = 0;
        for n in self.list() {
            let weight = self.nodes[n].weight;
            if weight > 0 {
                g = if g > 0 {
                    textbook_gcd(weight as i64, g as i64) as i32
                } else {
                    weight
                };
            }
        }
        if g != 0 {
            g
        } else {
            1
        }
    }

    fn max_weight(&self) -> i32 {
        let mut weight = 0;
        for n in self.list() {
            if self.nodes[n].weight > weight {
                weight = self.nodes[n].weight;
            }
        }
        weight
    }

    fn dest_changed(&mut self) {
        self.cl = HEAD;
        self.di = self.gcd_weight();
        self.mw = self.max_weight() - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    /// Returns the node chosen.
    fn schedule(&mut self) -> Option<usize> {
        let mut dest = self.cl;
        let mut stop = None;
        let (mut last_pass, mut restarted) = (false, false);
        if self.mw == 0 {
            self.cl = dest;
            return None;
        }
        let last = dest;
        loop {
            dest = self.nodes[dest].next;
            while dest != HEAD {
                if !self.nodes[dest].overloaded && self.nodes[dest].weight >= self.cw {
                    self.cl = dest;
                    return Some(dest);
                }
                if Some(dest) == stop {
                    self.cl = dest;
                    return None;
                }
                dest = self.nodes[dest].next;
            }
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last == HEAD {
                    self.cl = dest;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last != HEAD {
                stop = Some(last);
            }
        }
    }

    fn index_of(&self, node: usize) -> Option<usize> {
        self.list().iter().position(|&n| n == node)
    }
}

fn c_weight() -> impl Strategy<Value = i32> {
    prop_oneof![2 => Just(0), 6 => 1..=6i32, 2 => prop::sample::select(vec![8, 9, 12, 18, 24])]
}

#[derive(Clone, Debug)]
enum COp {
    Pick,
    ToggleOverload(usize),
    SetWeight(usize, i32),
    /// A weight change seen by the packet path before `upd_dest` runs.
    SilentWeight(usize, i32),
    AddFront(i32),
    Delete(usize),
}

fn c_op() -> impl Strategy<Value = COp> {
    prop_oneof![
        12 => Just(COp::Pick),
        3 => any::<usize>().prop_map(COp::ToggleOverload),
        2 => (any::<usize>(), c_weight()).prop_map(|(i, w)| COp::SetWeight(i, w)),
        2 => (any::<usize>(), c_weight()).prop_map(|(i, w)| COp::SilentWeight(i, w)),
        1 => c_weight().prop_map(COp::AddFront),
        1 => any::<usize>().prop_map(COp::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn matches_textbook_iwrr(initial in any_dests(), ops in prop::collection::vec(any_op(), 0..80)) {
        let mut d = initial;
        let mut mark = new_mark(&d);
        let mut model = Iwrr::new(&weights_of(&d));
        prop_assert!(same_state(&mark, &model));
        for op in ops {
            match op {
                Op::Pick => {
                    let got = pick(&mut mark, &d);
                    let want = model.next(&d);
                    prop_assert_eq!(got, want, "{:?} {:?}", d, model);
                    if let Some(i) = got {
                        prop_assert!(!d[i].overloaded && d[i].weight > 0);
                    }
                }
                Op::ToggleOverload(i) if !d.is_empty() => {
                    let i = i % d.len();
                    d[i].overloaded = !d[i].overloaded;
                    // Not a configuration change: no callback.
                }
                Op::SetWeight(i, w) if !d.is_empty() => {
                    let i = i % d.len();
                    d[i].weight = w;
                    mark.dest_changed(d.iter().map(|d| d.weight));
                    model.changed(&weights_of(&d));
                }
                Op::AddFront(w) => {
                    d.insert(0, dw(w, false));
                    mark.dest_changed(d.iter().map(|d| d.weight));
                    model.changed(&weights_of(&d));
                }
                Op::Delete(i) if !d.is_empty() => {
                    d.remove(i % d.len());
                    mark.dest_changed(d.iter().map(|d| d.weight));
                    model.changed(&weights_of(&d));
                }
                _ => {}
            }
            prop_assert!(same_state(&mark, &model), "{:?} {:?}", mark, model);
        }
    }

    #[test]
    fn one_cycle_is_the_textbook_sequence(weights in prop::collection::vec(0..=7i32, 0..7)) {
        // From a fresh state, with no overload, one cycle of M rounds.
        let d = dests(&weights);
        let mut mark = new_mark(&d);
        let (g, rounds) = Iwrr::config(&weights);
        let mut want = vec![];
        for r in 0..rounds {
            for (i, &w) in weights.iter().enumerate() {
                if w as i64 >= (rounds - r) * g {
                    want.push(i);
                }
            }
        }
        let got: Vec<usize> = (0..want.len()).map(|_| pick(&mut mark, &d).unwrap()).collect();
        prop_assert_eq!(&got, &want);
        // Each server is served weight / g times per cycle.
        for (i, &w) in weights.iter().enumerate() {
            let n = got.iter().filter(|&&x| x == i).count() as i64;
            prop_assert_eq!(n, if w > 0 { w as i64 / g } else { 0 });
        }
        // And the next cycle is the same.
        let again: Vec<usize> = (0..want.len()).map(|_| pick(&mut mark, &d).unwrap()).collect();
        prop_assert_eq!(got, again);
    }

    #[test]
    fn matches_the_c_transliteration(initial in prop::collection::vec(
        (c_weight(), prop::bool::weighted(0.2)).prop_map(|(w, o)| dw(w, o)), 0..7),
        ops in prop::collection::vec(c_op(), 0..100))
    {
        let mut c = CWrr::new(&initial);
        let mut mark = new_mark(&initial);
        let view = |c: &CWrr| -> Vec<DestWeight> {
            c.list().iter().map(|&n| dw(c.nodes[n].weight, c.nodes[n].overloaded)).collect()
        };
        for op in ops {
            let list = c.list();
            match op {
                COp::Pick => {
                    let d = view(&c);
                    let got = mark.schedule(|from| after(from, d.len()), |&i| d[i]);
                    let want = c.schedule().map(|n| c.index_of(n).unwrap());
                    prop_assert_eq!(got.ok(), want);
                    prop_assert_eq!(mark.cw(), c.cw);
                    let cl = if c.cl == HEAD { Position::Head } else { Position::At(c.index_of(c.cl).unwrap()) };
                    prop_assert_eq!(mark.position(), cl);
                    if let Err(e) = got {
                        prop_assert_eq!(e == NoDest::NoneAvailable, c.mw == 0);
                    }
                }
                COp::ToggleOverload(i) if !list.is_empty() => {
                    let n = list[i % list.len()];
                    c.nodes[n].overloaded = !c.nodes[n].overloaded;
                }
                COp::SetWeight(i, w) if !list.is_empty() => {
                    c.nodes[list[i % list.len()]].weight = w;
                    c.dest_changed();
                    mark.dest_changed(view(&c).iter().map(|d| d.weight));
                }
                COp::SilentWeight(i, w) if !list.is_empty() => {
                    c.nodes[list[i % list.len()]].weight = w;
                }
                COp::AddFront(w) => {
                    c.list_add(w, false);
                    c.dest_changed();
                    mark.dest_changed(view(&c).iter().map(|d| d.weight));
                }
                COp::Delete(i) if !list.is_empty() => {
                    c.list_del(list[i % list.len()]);
                    c.dest_changed();
                    mark.dest_changed(view(&c).iter().map(|d| d.weight));
                }
                _ => {}
            }
            prop_assert_eq!((mark.mw(), mark.di()), (c.mw, c.di));
        }
    }
}

#[derive(Clone, Debug)]
enum NodeOp {
    Pick,
    ToggleOverload(usize),
    SetWeight(usize, i32),
    /// A weight change seen by the packet path before `upd_dest` runs.
    SilentWeight(usize, i32),
    /// IPVS links a server at the front; with `true`, a packet is scheduled before `add_dest`.
    AddFront(i32, bool),
    /// IPVS unlinks a server; with `true`, a packet is scheduled before `del_dest`.
    Delete(usize, bool),
}

fn node_op() -> impl Strategy<Value = NodeOp> {
    prop_oneof![
        12 => Just(NodeOp::Pick),
        3 => any::<usize>().prop_map(NodeOp::ToggleOverload),
        2 => (any::<usize>(), c_weight()).prop_map(|(i, w)| NodeOp::SetWeight(i, w)),
        2 => (any::<usize>(), c_weight()).prop_map(|(i, w)| NodeOp::SilentWeight(i, w)),
        1 => (c_weight(), any::<bool>()).prop_map(|(w, b)| NodeOp::AddFront(w, b)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| NodeOp::Delete(i, b)),
    ]
}

/// The kernel module's schedule over the model's list: `Levels` with the list's nodes as
/// cursors (the head a node like the others), the place kept apart as the glue keeps it.
fn kernel_pick(c: &CWrr, levels: &mut Levels, place: &mut usize) -> Option<usize> {
    let walk = |from: usize| {
        let mut n = from;
        std::iter::from_fn(move || {
            n = c.nodes[n].next;
            (n != HEAD).then_some((n, n))
        })
    };
    let weight_of = |&n: &usize| dw(c.nodes[n].weight, c.nodes[n].overloaded);
    let (at, chosen) = levels.schedule(HEAD, *place, walk, weight_of);
    *place = at;
    chosen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The kernel's form of the state, over a list whose changes IPVS makes before it calls
    /// the callback (a packet may be scheduled in between, from a place on a server just
    /// unlinked, whose `next` `list_del_rcu()` leaves): the same choice, place and levels as
    /// C's loop, connection by connection.
    #[test]
    fn levels_over_list_nodes_match_c(initial in prop::collection::vec(
        (c_weight(), prop::bool::weighted(0.2)).prop_map(|(w, o)| dw(w, o)), 0..7),
        ops in prop::collection::vec(node_op(), 0..100))
    {
        let mut c = CWrr::new(&initial);
        let mut levels = Levels::new(initial.iter().map(|d| d.weight));
        let mut place = HEAD;
        let weights = |c: &CWrr| c.list().iter().map(|&n| c.nodes[n].weight).collect::<Vec<_>>();
        let pick = |c: &mut CWrr, levels: &mut Levels, place: &mut usize| {
            let got = kernel_pick(c, levels, place);
            let want = c.schedule();
            prop_assert_eq!(got, want);
            prop_assert_eq!((*place, levels.cw()), (c.cl, c.cw));
            if got.is_none() {
                prop_assert_eq!(levels.refusal() == NoDest::NoneAvailable, c.mw == 0);
            }
            Ok(())
        };
        for op in ops {
            let list = c.list();
            match op {
                NodeOp::Pick => pick(&mut c, &mut levels, &mut place)?,
                NodeOp::ToggleOverload(i) if !list.is_empty() => {
                    let n = list[i % list.len()];
                    c.nodes[n].overloaded = !c.nodes[n].overloaded;
                }
                NodeOp::SilentWeight(i, w) if !list.is_empty() => {
                    c.nodes[list[i % list.len()]].weight = w;
                }
                NodeOp::SetWeight(i, w) if !list.is_empty() => {
                    c.nodes[list[i % list.len()]].weight = w;
                    c.dest_changed();
                    levels.dest_changed(weights(&c));
                    place = HEAD;
                }
                NodeOp::AddFront(w, between) => {
                    c.list_add(w, false);
                    if between {
                        pick(&mut c, &mut levels, &mut place)?;
                    }
                    c.dest_changed();
                    levels.dest_changed(weights(&c));
                    place = HEAD;
                }
                NodeOp::Delete(i, between) if !list.is_empty() => {
                    c.list_del(list[i % list.len()]);
                    if between {
                        pick(&mut c, &mut levels, &mut place)?;
                    }
                    c.dest_changed();
                    levels.dest_changed(weights(&c));
                    place = HEAD;
                }
                _ => {}
            }
            prop_assert_eq!((levels.mw(), levels.di()), (c.mw, c.di));
        }
    }
}
