//! lc against a transcription of `ip_vs_lc_schedule()` (same reads, in the same order) and
//! against the rule said plainly: the least `activeconns * 256 + totalconns`, first on a tie.

mod loads;

use ipvs_sched_core::lc::pick;
use loads::*;
use proptest::prelude::*;

/// `ip_vs_lc_schedule()`, line by line.
fn c_lc(c: &CList) -> Option<usize> {
    let mut least: Option<usize> = None;
    let mut loh: u32 = 0;
    for i in 0..c.len() {
        if c.overloaded(i) || c.weight(i) == 0 {
            continue;
        }
        let doh = c.conn_overhead(i) as u32;
        if least.is_none() || doh < loh {
            least = Some(i);
            loh = doh;
        }
    }
    least
}

type Reads = Vec<(usize, Field)>;

fn run(s: &[Server]) -> (Option<usize>, Reads, Option<usize>, Reads) {
    let log = Log::default();
    let got = pick(recs(s, &log));
    let got_reads = log.take();
    let want = c_lc(&CList { s, log: &log });
    (got, got_reads, want, log.take())
}

fn idx(s: &[Server]) -> Option<usize> {
    run(s).0
}

#[test]
fn least_overhead_whatever_the_weight() {
    // Overheads 257, 512, 256: the third, though its weight is the smallest.
    let s = [
        server(100, 1, 1, false),
        server(5, 2, 0, false),
        server(1, 1, 0, false),
    ];
    assert_eq!(idx(&s), Some(2));
    // A tie goes to the first.
    let s = [server(1, 1, 0, false), server(9, 1, 0, false)];
    assert_eq!(idx(&s), Some(0));
}

#[test]
fn quiesced_and_overloaded_are_skipped_negative_weight_is_not() {
    let s = [
        server(0, 0, 0, false),
        server(3, 0, 0, true),
        server(1, 9, 9, false),
    ];
    assert_eq!(idx(&s), Some(2));
    assert_eq!(idx(&s[..2]), None);
    assert_eq!(idx(&[]), None);
    // C tests `weight == 0`: a negative weight takes connections.
    assert_eq!(idx(&[server(-1, 0, 0, false)]), Some(0));
}

#[test]
fn overhead_compared_unsigned() {
    // activeconns = 2^23 makes `activeconns << 8` = -2^31 in int: as unsigned, 2^31, more
    // than 1000.
    let s = [server(1, 1 << 23, 0, false), server(1, 3, 232, false)];
    assert_eq!(idx(&s), Some(1));
    // A negative overhead (-1) is the largest unsigned value.
    let s = [server(1, 0, -1, false), server(1, 1000, 0, false)];
    assert_eq!(idx(&s), Some(1));
}

#[test]
fn reads_an_overloaded_server_flags_only() {
    let s = [server(1, 0, 0, true), server(1, 0, 0, false)];
    let (_, reads, _, _) = run(&s);
    assert_eq!(
        reads,
        [
            (0, Field::Flags),
            (1, Field::Flags),
            (1, Field::Weight),
            (1, Field::Active),
            (1, Field::Total)
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
    fn least_overhead_plainly(s in any_small_list()) {
        let eligible: Vec<usize> =
            (0..s.len()).filter(|&i| !s[i].overloaded && s[i].weight != 0).collect();
        let oh = |i: usize| s[i].activeconns * 256 + s[i].totalconns;
        let want = eligible.iter().copied().min_by_key(|&i| (oh(i), i));
        prop_assert_eq!(idx(&s), want);
    }
}
