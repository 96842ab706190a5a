//! The wlc choice against a reference model written the obvious way: among the servers that
//! may take a connection, the first one with the smallest overhead/weight ratio.

use ipvs_sched_core::wlc::{pick, DestLoad};
use proptest::prelude::*;

fn reference(dests: &[DestLoad]) -> Option<usize> {
    let eligible = |d: &DestLoad| !d.overloaded && d.weight > 0;
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if !eligible(d) {
            continue;
        }
        // Exact rational comparison, i128 so nothing can overflow.
        let better = match best {
            None => true,
            Some(b) => {
                let (bo, bw) = (dests[b].overhead() as i128, dests[b].weight as i128);
                (d.overhead() as i128) * bw < bo * (d.weight as i128)
            }
        };
        if better {
            best = Some(i);
        }
    }
    best
}

fn dest(weight: i32, activeconns: i32, totalconns: i32, overloaded: bool) -> DestLoad {
    DestLoad {
        weight,
        overloaded,
        available: true,
        activeconns,
        totalconns,
    }
}

fn pick_index(dests: &[DestLoad]) -> Option<usize> {
    pick(dests.iter().copied().enumerate())
}

#[test]
fn overhead_is_activeconns_times_256_plus_totalconns() {
    assert_eq!(dest(1, 3, 10, false).overhead(), 3 * 256 + 10);
    assert_eq!(dest(1, 0, 0, false).overhead(), 0);
}

#[test]
fn least_loaded_per_weight_wins() {
    // Overheads 256, 512, 768 with weights 1, 2, 3: all ratios 256 -> the first wins the tie.
    let d = [
        dest(1, 1, 0, false),
        dest(2, 2, 0, false),
        dest(3, 3, 0, false),
    ];
    assert_eq!(pick_index(&d), Some(0));
    // One more connection on the first one: now the second (512/2 = 256 < 257).
    let d = [
        dest(1, 1, 1, false),
        dest(2, 2, 0, false),
        dest(3, 3, 0, false),
    ];
    assert_eq!(pick_index(&d), Some(1));
}

#[test]
fn weight_zero_and_overloaded_get_nothing() {
    let d = [
        dest(0, 0, 0, false),
        dest(5, 0, 0, true),
        dest(1, 900, 900, false),
    ];
    assert_eq!(pick_index(&d), Some(2));
    let d = [dest(0, 0, 0, false), dest(5, 0, 0, true)];
    assert_eq!(pick_index(&d), None);
    assert_eq!(pick_index(&[]), None);
}

#[test]
fn a_weight_zero_server_after_the_candidate_never_wins() {
    // C's second pass does not test the weight; the cross-multiplication excludes it anyway.
    let d = [dest(1, 50, 50, false), dest(0, 0, 0, false)];
    assert_eq!(pick_index(&d), Some(0));
}

#[test]
fn weights_1_2_3_fill_in_proportion() {
    // Long-lived connections: each pick adds one active connection to the chosen server.
    let mut d = [
        dest(1, 0, 0, false),
        dest(2, 0, 0, false),
        dest(3, 0, 0, false),
    ];
    for _ in 0..60 {
        let i = pick_index(&d).unwrap();
        d[i].activeconns += 1;
        d[i].totalconns += 1;
    }
    assert_eq!(
        [d[0].activeconns, d[1].activeconns, d[2].activeconns],
        [10, 20, 30]
    );
}

fn any_dest() -> impl Strategy<Value = DestLoad> {
    (
        prop_oneof![Just(0), 1..=4i32, 1..=65535i32, Just(i32::MAX)],
        prop_oneof![0..=3i32, 0..=1_000_000i32],
        prop_oneof![0..=3i32, 0..=10_000_000i32],
        prop::bool::weighted(0.2),
    )
        .prop_map(|(weight, activeconns, totalconns, overloaded)| DestLoad {
            weight,
            overloaded,
            available: true,
            activeconns,
            totalconns,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn pick_matches_reference(dests in prop::collection::vec(any_dest(), 0..12)) {
        prop_assert_eq!(pick_index(&dests), reference(&dests));
    }

    #[test]
    fn chosen_server_is_never_quiesced_or_overloaded(dests in prop::collection::vec(any_dest(), 0..12)) {
        if let Some(i) = pick_index(&dests) {
            prop_assert!(dests[i].weight > 0 && !dests[i].overloaded);
        } else {
            prop_assert!(dests.iter().all(|d| d.weight <= 0 || d.overloaded));
        }
    }
}
