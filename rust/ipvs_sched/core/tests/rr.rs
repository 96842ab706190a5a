//! rr against a transcription of `ip_vs_rr_schedule()` and `ip_vs_rr_del_dest()` over a
//! linked list like the kernel's (node 0 the head, unlinked nodes keeping their `next` as
//! `list_del_rcu()` leaves them), through adds, deletions, weight and overload changes, and
//! schedules that run while a deleted server is unlinked but its callback has not run yet.
//! The cursors are the nodes; the choice, the place and every value read must agree.

mod loads;

use ipvs_sched_core::rr::pick;
use loads::*;
use proptest::prelude::*;

const HEAD: usize = 0;

#[derive(Clone, Debug)]
struct Node {
    next: usize,
    prev: usize,
    s: Server,
}

/// `svc->destinations` and `svc->sched_data` (a node, `HEAD` for the list head).
#[derive(Clone, Debug)]
struct CRr {
    nodes: Vec<Node>,
    sched_data: usize,
}

impl CRr {
    fn new(s: &[Server]) -> Self {
        let mut c = CRr {
            nodes: vec![Node {
                next: HEAD,
                prev: HEAD,
                s: server(0, 0, 0, false),
            }],
            sched_data: HEAD,
        };
        for x in s.iter().rev() {
            c.list_add(*x);
        }
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

    /// `list_add_rcu()`: at the front.
    fn list_add(&mut self, s: Server) {
        let id = self.nodes.len();
        let first = self.nodes[HEAD].next;
        self.nodes.push(Node {
            next: first,
            prev: HEAD,
            s,
        });
        self.nodes[first].prev = id;
        self.nodes[HEAD].next = id;
    }

    /// `list_del_rcu()`: `next` stays.
    fn list_del(&mut self, id: usize) {
        let (p, n) = (self.nodes[id].prev, self.nodes[id].next);
        self.nodes[p].next = n;
        self.nodes[n].prev = p;
    }

    /// `ip_vs_rr_del_dest()`.
    fn del_dest(&mut self, id: usize) {
        let p = self.sched_data;
        if p == id {
            self.sched_data = self.nodes[self.nodes[p].next].prev;
        }
    }

    fn servers(&self) -> Vec<Server> {
        self.nodes.iter().map(|n| n.s).collect()
    }

    /// `ip_vs_rr_schedule()`, reading through `c` (indexed by node).
    fn schedule(&mut self, c: &CList) -> Option<usize> {
        let p = self.sched_data;
        let last = p;
        let mut dest = p;
        let mut pass = 0;
        loop {
            // list_for_each_entry_continue_rcu
            dest = self.nodes[dest].next;
            while dest != HEAD {
                if !c.overloaded(dest) && c.weight(dest) > 0 {
                    self.sched_data = dest;
                    return Some(dest);
                }
                if dest == last {
                    return None;
                }
                dest = self.nodes[dest].next;
            }
            pass += 1;
            if !(pass < 2 && p != HEAD) {
                return None;
            }
        }
    }
}

/// The walk the kernel module's cursor gives: the nodes after `from` (every node after
/// `HEAD`), following `next`, with the logging view of each.
fn walk<'a>(
    nodes: &'a [Node],
    servers: &'a [Server],
    log: &'a Log,
    from: usize,
) -> impl Iterator<Item = (usize, (usize, Rec<'a>))> + 'a {
    let mut n = from;
    std::iter::from_fn(move || {
        n = nodes[n].next;
        (n != HEAD).then(|| {
            (
                n,
                (
                    n,
                    Rec {
                        id: n,
                        s: &servers[n],
                        log,
                    },
                ),
            )
        })
    })
}

/// One schedule by the core from `place`; returns the choice, the new place, the reads.
fn core_pick(c: &CRr, place: Option<usize>) -> (Option<usize>, Option<usize>, Vec<(usize, Field)>) {
    let servers = c.servers();
    let log = Log::default();
    let last = place.unwrap_or(HEAD);
    let got = pick(HEAD, last, |from| walk(&c.nodes, &servers, &log, from));
    let reads = log.take();
    let place = got.map_or(place, |(cursor, _)| Some(cursor));
    (got.map(|(_, d)| d), place, reads)
}

fn as_place(sched_data: usize) -> Option<usize> {
    (sched_data != HEAD).then_some(sched_data)
}

/// The position in the list of a node.
fn pos(c: &CRr, node: usize) -> usize {
    c.list().iter().position(|&n| n == node).unwrap()
}

#[test]
fn takes_turns_skipping_quiesced_and_overloaded() {
    let mut c = CRr::new(&[
        server(1, 0, 0, false),
        server(0, 0, 0, false),
        server(5, 0, 0, false),
        server(1, 0, 0, true),
    ]);
    let mut place = None;
    let mut got = vec![];
    for _ in 0..5 {
        let (d, p, _) = core_pick(&c, place);
        place = p;
        got.push(pos(&c, d.unwrap()));
    }
    // The first and the third take turns.
    assert_eq!(got, [0, 2, 0, 2, 0]);
    // None left: no choice, and the caller keeps its place.
    let (first, third) = (c.list()[0], c.list()[2]);
    c.nodes[first].s.weight = 0;
    c.nodes[third].s.overloaded = true;
    assert_eq!(core_pick(&c, place).0, None);
    assert_eq!(core_pick(&c, place).1, place);
    assert_eq!(core_pick(&c, None).0, None);
}

#[test]
fn the_last_server_is_tried_last() {
    // From the second of three, only the second is usable: the walk tries the third, the
    // first, then the second itself.
    let mut c = CRr::new(&[
        server(0, 0, 0, false),
        server(1, 0, 0, false),
        server(0, 0, 0, false),
    ]);
    let second = c.list()[1];
    let (got, _, reads) = core_pick(&c, Some(second));
    assert_eq!(got, Some(second));
    let order: Vec<usize> = reads
        .iter()
        .filter(|(_, f)| *f == Field::Flags)
        .map(|&(n, _)| pos(&c, n))
        .collect();
    assert_eq!(order, [2, 0, 1]);
    c.nodes[second].s.weight = 0;
    assert_eq!(core_pick(&c, Some(second)).0, None);
}

#[derive(Clone, Debug)]
enum Op {
    Pick,
    ToggleOverload(usize),
    SetWeight(usize, i32),
    AddFront(Server),
    /// Delete a server; with `true`, schedule once between the unlink and the callback.
    Delete(usize, bool),
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => Just(Op::Pick),
        3 => any::<usize>().prop_map(Op::ToggleOverload),
        3 => (any::<usize>(), any_weight()).prop_map(|(i, w)| Op::SetWeight(i, w)),
        1 => any_server().prop_map(Op::AddFront),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Delete(i, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn matches_c(initial in prop::collection::vec(any_server(), 0..8),
                 ops in prop::collection::vec(any_op(), 0..60)) {
        let mut c = CRr::new(&initial);
        let mut place: Option<usize> = None;
        let step = |c: &mut CRr, place: &mut Option<usize>| -> Result<(), TestCaseError> {
            let (got, new_place, reads) = core_pick(c, *place);
            let servers = c.servers();
            let log = Log::default();
            let want = c.schedule(&CList { s: &servers, log: &log });
            prop_assert_eq!(got, want);
            prop_assert_eq!(new_place, as_place(c.sched_data));
            prop_assert_eq!(reads, log.take());
            if let Some(d) = got {
                prop_assert!(c.list().contains(&d));
                prop_assert!(c.nodes[d].s.weight > 0 && !c.nodes[d].s.overloaded);
            }
            *place = new_place;
            Ok(())
        };
        for op in ops {
            let list = c.list();
            match op {
                Op::Pick => step(&mut c, &mut place)?,
                Op::ToggleOverload(i) if !list.is_empty() => {
                    let n = list[i % list.len()];
                    c.nodes[n].s.overloaded = !c.nodes[n].s.overloaded;
                }
                Op::SetWeight(i, w) if !list.is_empty() => {
                    c.nodes[list[i % list.len()]].s.weight = w;
                }
                Op::AddFront(s) => c.list_add(s),
                Op::Delete(i, between) if !list.is_empty() => {
                    let n = list[i % list.len()];
                    let prev = c.nodes[n].prev;
                    c.list_del(n);
                    if between {
                        step(&mut c, &mut place)?;
                    }
                    c.del_dest(n);
                    // What the kernel's glue does on a deletion (`PlaceGuard::step_back_from`):
                    // a place at the deleted server steps back to the one before it.
                    if place == Some(n) {
                        place = as_place(prev);
                    }
                    prop_assert_eq!(place, as_place(c.sched_data));
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_full_round_serves_each_usable_server_once(s in prop::collection::vec(any_server(), 1..8)) {
        let c = CRr::new(&s);
        let usable: Vec<usize> = c.list().into_iter()
            .filter(|&n| c.nodes[n].s.weight > 0 && !c.nodes[n].s.overloaded).collect();
        let mut place = None;
        let mut got = vec![];
        for _ in 0..usable.len() * 2 {
            let (d, p, _) = core_pick(&c, place);
            place = p;
            got.extend(d);
        }
        let twice: Vec<usize> = usable.iter().chain(usable.iter()).copied().collect();
        prop_assert_eq!(got, twice);
    }
}
