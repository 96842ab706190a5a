//! nq against a transcription of `ip_vs_nq_schedule()` (same reads, in the same order) and
//! against the rule said plainly: the first idle server, else sed's choice.

mod loads;

use ipvs_sched_core::nq::pick;
use loads::*;
use proptest::prelude::*;

/// `ip_vs_nq_schedule()`, line by line.
fn c_nq(c: &CList) -> Option<usize> {
    let mut least: Option<usize> = None;
    let mut loh: i32 = 0;
    for i in 0..c.len() {
        if c.overloaded(i) || c.weight(i) == 0 {
            continue;
        }
        let doh = c.activeconns(i).wrapping_add(1);
        if c.activeconns(i) == 0 {
            return Some(i);
        }
        if least.is_none()
            || (loh as i64 * c.weight(i) as i64 > doh as i64 * c.weight(least.unwrap()) as i64)
        {
            least = Some(i);
            loh = doh;
        }
    }
    least
}

type Reads = Vec<(usize, Field)>;

fn run(s: &[Server]) -> (Option<usize>, Reads, Option<usize>, Reads) {
    let log = Log::default();
    let got = pick(recs(s, &log).map(|(_, rec)| rec)).map(|rec| rec.id);
    let got_reads = log.take();
    let want = c_nq(&CList { s, log: &log });
    (got, got_reads, want, log.take())
}

fn idx(s: &[Server]) -> Option<usize> {
    run(s).0
}

#[test]
fn an_idle_server_first() {
    // The third is idle: it wins though the second has a larger weight.
    let s = [
        server(1, 5, 0, false),
        server(100, 1, 0, false),
        server(1, 0, 9, false),
    ];
    assert_eq!(idx(&s), Some(2));
    // No idle server: sed's rule, 6/1 against 2/100.
    assert_eq!(idx(&s[..2]), Some(1));
    // An idle but overloaded or quiesced server does not count.
    let s = [
        server(1, 0, 0, true),
        server(0, 0, 0, false),
        server(1, 3, 0, false),
    ];
    assert_eq!(idx(&s), Some(2));
    assert_eq!(idx(&s[..2]), None);
}

#[test]
fn reads_activeconns_twice() {
    let s = [server(2, 1, 0, false)];
    let (_, reads, _, _) = run(&s);
    assert_eq!(
        reads,
        [
            (0, Field::Flags),
            (0, Field::Weight),
            (0, Field::Active),
            (0, Field::Active)
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn matches_c(s in any_list()) {
        let (got, got_reads, want, want_reads) = run(&s);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_reads, want_reads);
    }

    #[test]
    fn idle_else_least_expected_delay(s in any_small_list()) {
        let ok = |i: usize| !s[i].overloaded && s[i].weight != 0;
        let want = (0..s.len()).find(|&i| ok(i) && s[i].activeconns == 0).or_else(|| {
            let lt = |a: usize, b: usize| {
                (s[a].activeconns as i64 + 1) * (s[b].weight as i64)
                    < (s[b].activeconns as i64 + 1) * (s[a].weight as i64)
            };
            let mut best: Option<usize> = None;
            for i in (0..s.len()).filter(|&i| ok(i)) {
                if best.is_none_or(|b| lt(i, b)) {
                    best = Some(i);
                }
            }
            best
        });
        prop_assert_eq!(idx(&s), want);
    }
}
