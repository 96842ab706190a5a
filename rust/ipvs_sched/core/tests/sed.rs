//! sed against a transcription of `ip_vs_sed_schedule()` (same reads, in the same order) and
//! against the rule said plainly: the least `(activeconns + 1) / weight`, first on a tie.

mod loads;

use ipvs_sched_core::sed::pick;
use loads::*;
use proptest::prelude::*;

/// `ip_vs_sed_schedule()`, line by line (the two stages over one index).
fn c_sed(c: &CList) -> Option<usize> {
    let mut i = 0;
    let mut least = None;
    while i < c.len() {
        if !c.overloaded(i) && c.weight(i) > 0 {
            least = Some(i);
            break;
        }
        i += 1;
    }
    let mut least = least?;
    let mut loh = c.activeconns(least).wrapping_add(1);
    for i in i + 1..c.len() {
        if c.overloaded(i) {
            continue;
        }
        let doh = c.activeconns(i).wrapping_add(1);
        if loh as i64 * c.weight(i) as i64 > doh as i64 * c.weight(least) as i64 {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

type Reads = Vec<(usize, Field)>;

fn run(s: &[Server]) -> (Option<usize>, Reads, Option<usize>, Reads) {
    let log = Log::default();
    let got = pick(recs(s, &log));
    let got_reads = log.take();
    let want = c_sed(&CList { s, log: &log });
    (got, got_reads, want, log.take())
}

fn idx(s: &[Server]) -> Option<usize> {
    run(s).0
}

#[test]
fn the_new_job_counts() {
    // Idle servers of weights 1 and 3: (0+1)/1 against (0+1)/3, the heavier one (wlc would
    // take the first: 0/1 = 0/3).
    let s = [server(1, 0, 0, false), server(3, 0, 0, false)];
    assert_eq!(idx(&s), Some(1));
    // 2/1 against 5/2: the first. 3/1 against 5/2: the second.
    let s = [server(1, 1, 50, false), server(2, 4, 0, false)];
    assert_eq!(idx(&s), Some(0));
    let s = [server(1, 2, 0, false), server(2, 4, 0, false)];
    assert_eq!(idx(&s), Some(1));
    // A tie goes to the first: 2/1 against 4/2.
    let s = [server(1, 1, 0, false), server(2, 3, 0, false)];
    assert_eq!(idx(&s), Some(0));
}

#[test]
fn quiesced_and_overloaded_get_nothing() {
    let s = [
        server(0, 0, 0, false),
        server(5, 0, 0, true),
        server(1, 900, 0, false),
    ];
    assert_eq!(idx(&s), Some(2));
    assert_eq!(idx(&s[..2]), None);
    assert_eq!(idx(&[]), None);
    // A later weight-0 server is compared, not skipped, and cannot win.
    let s = [server(1, 50, 0, false), server(0, 0, 0, false)];
    assert_eq!(idx(&s), Some(0));
}

#[test]
fn overhead_wraps_in_int() {
    // activeconns = INT_MAX: overhead INT_MIN, the least of all.
    let s = [server(1, 0, 0, false), server(1, i32::MAX, 0, false)];
    assert_eq!(idx(&s), Some(1));
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
    fn least_expected_delay_plainly(s in any_small_list()) {
        let mut best: Option<usize> = None;
        for i in 0..s.len() {
            if s[i].overloaded || s[i].weight <= 0 {
                continue;
            }
            // Exact: compare cross-multiplied integers.
            let lt = |a: usize, b: usize| {
                (s[a].activeconns as i64 + 1) * (s[b].weight as i64)
                    < (s[b].activeconns as i64 + 1) * (s[a].weight as i64)
            };
            if best.is_none_or(|b| lt(i, b)) {
                best = Some(i);
            }
        }
        prop_assert_eq!(idx(&s), best);
    }
}
