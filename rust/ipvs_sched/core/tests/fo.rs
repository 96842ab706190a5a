//! fo against a transcription of `ip_vs_fo_schedule()` (same reads, in the same order) and
//! against the rule said plainly: the first server of the highest positive weight.

mod loads;

use ipvs_sched_core::fo::pick;
use loads::*;
use proptest::prelude::*;

/// `ip_vs_fo_schedule()`, line by line.
fn c_fo(c: &CList) -> Option<usize> {
    let mut hweight = None;
    let mut hw = 0;
    for i in 0..c.len() {
        if !c.overloaded(i) && c.weight(i) > hw {
            hweight = Some(i);
            hw = c.weight(i);
        }
    }
    hweight
}

type Reads = Vec<(usize, Field)>;

fn run(s: &[Server]) -> (Option<usize>, Reads, Option<usize>, Reads) {
    let log = Log::default();
    let got = pick(recs(s, &log));
    let got_reads = log.take();
    let want = c_fo(&CList { s, log: &log });
    (got, got_reads, want, log.take())
}

fn idx(s: &[Server]) -> Option<usize> {
    run(s).0
}

#[test]
fn highest_weight_first_in_list() {
    let s = [
        server(2, 0, 0, false),
        server(5, 1000, 0, false),
        server(5, 0, 0, false),
    ];
    assert_eq!(idx(&s), Some(1));
    // It fails over when the first is overloaded or quiesced.
    let s = [
        server(2, 0, 0, false),
        server(5, 0, 0, true),
        server(0, 0, 0, false),
    ];
    assert_eq!(idx(&s), Some(0));
    assert_eq!(idx(&s[1..]), None);
    assert_eq!(idx(&[]), None);
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
    fn highest_weight_plainly(s in any_list()) {
        let ok: Vec<usize> = (0..s.len()).filter(|&i| !s[i].overloaded && s[i].weight > 0).collect();
        let want = ok.iter().copied().min_by_key(|&i| (std::cmp::Reverse(s[i].weight), i));
        prop_assert_eq!(idx(&s), want);
    }
}
