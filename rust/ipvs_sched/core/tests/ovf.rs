//! ovf against a transcription of `ip_vs_ovf_schedule()` (same reads, in the same order) and
//! against the rule said plainly: the first server of the highest weight among those whose
//! active connections do not exceed their weight.

mod loads;

use ipvs_sched_core::ovf::pick;
use loads::*;
use proptest::prelude::*;

/// `ip_vs_ovf_schedule()`, line by line.
fn c_ovf(c: &CList) -> Option<usize> {
    let mut h = None;
    let mut hw = 0;
    for i in 0..c.len() {
        let w = c.weight(i);
        if c.overloaded(i) || c.activeconns(i) > w || w == 0 {
            continue;
        }
        if h.is_none() || w > hw {
            h = Some(i);
            hw = w;
        }
    }
    h
}

type Reads = Vec<(usize, Field)>;

fn run(s: &[Server]) -> (Option<usize>, Reads, Option<usize>, Reads) {
    let log = Log::default();
    let got = pick(recs(s, &log));
    let got_reads = log.take();
    let want = c_ovf(&CList { s, log: &log });
    (got, got_reads, want, log.take())
}

fn idx(s: &[Server]) -> Option<usize> {
    run(s).0
}

#[test]
fn overflows_to_the_next_weight() {
    let mut s = [
        server(1, 0, 0, false),
        server(3, 0, 0, false),
        server(2, 0, 0, false),
    ];
    // Long connections: 3 to the second (up to activeconns = 3 = weight it still takes the
    // fourth), then the third, then the first.
    let mut got = vec![];
    for _ in 0..9 {
        match idx(&s) {
            Some(i) => {
                s[i].activeconns += 1;
                got.push(i);
            }
            None => break,
        }
    }
    assert_eq!(got, [1, 1, 1, 1, 2, 2, 2, 0, 0]);
    assert_eq!(idx(&s), None);
}

#[test]
fn a_negative_weight_is_a_candidate_when_not_exceeded() {
    // C skips `w == 0` only; activeconns -5 <= -1.
    let s = [server(-1, -5, 0, false)];
    assert_eq!(idx(&s), Some(0));
    // The first candidate is taken whatever its weight; a later one must be higher.
    let s = [
        server(-1, -5, 0, false),
        server(-1, -5, 0, false),
        server(1, 0, 0, false),
    ];
    assert_eq!(idx(&s), Some(2));
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
    fn highest_weight_not_overflowing_plainly(s in any_small_list()) {
        let ok: Vec<usize> = (0..s.len())
            .filter(|&i| !s[i].overloaded && s[i].weight > 0 && s[i].activeconns <= s[i].weight)
            .collect();
        let want = ok.iter().copied().min_by_key(|&i| (std::cmp::Reverse(s[i].weight), i));
        prop_assert_eq!(idx(&s), want);
    }
}
