//! The bounded wait's clock against a model in 64-bit time: whatever the 32-bit jiffies wrap,
//! a connection expires exactly when the 64-bit clock says it waited `max_wait`.

use proptest::prelude::*;
use sock_level_hash_core::bound::{
    deadline, expired, may_return, queue_share, relapses_after_demotion, standby_hold,
    HOLD_DOUBLINGS_MAX, RELAPSE_WINDOW_MAX_WAITS,
};

proptest! {
    #[test]
    fn expiry_matches_64_bit_time(start in any::<u64>(), waited in 0u64..1 << 30, max_wait in 0u32..1 << 30) {
        let now = start.wrapping_add(waited);
        prop_assert_eq!(expired(start as u32, now as u32, max_wait), waited >= u64::from(max_wait));
        prop_assert!(expired(start as u32, deadline(start as u32, max_wait), max_wait));
    }

    #[test]
    fn shares_cover_the_backlog(backlog in 0u32..1 << 20, registered in 1u32..=1024) {
        let share = queue_share(backlog, registered);
        prop_assert!(u64::from(share) * u64::from(registered) >= u64::from(backlog));
        prop_assert!(share >= 1);
        // Rounded up, not more: one fewer per queue would not cover the backlog.
        prop_assert!(share == 1 || u64::from(share - 1) * u64::from(registered) < u64::from(backlog));
    }

    /// An owner demoted and back again, over and over, against a model in 64-bit time: the
    /// hold doubles while it relapses within the window, is capped, starts again after the
    /// window, and it may return exactly when the 64-bit clock says the hold has passed.
    #[test]
    fn holds_match_a_64_bit_model(
        start in any::<u64>(),
        max_wait in 1u32..10_000,
        gaps in proptest::collection::vec((0u64..1 << 20, 0u64..1 << 20), 1..40),
    ) {
        let (mut now, mut returned, mut relapses) = (start, None::<u64>, 0u32);
        for (standby_gap, back_gap) in gaps {
            // Demoted at `now`.
            let model_relapse = returned.is_some_and(|at| now - at < u64::from(max_wait) * u64::from(RELAPSE_WINDOW_MAX_WAITS));
            let expected = if model_relapse { (relapses + 1).min(HOLD_DOUBLINGS_MAX) } else { 0 };
            relapses = relapses_after_demotion(relapses, returned.map(|at| at as u32), now as u32, max_wait);
            prop_assert_eq!(relapses, expected);
            let hold = standby_hold(max_wait, relapses);
            prop_assert_eq!(u64::from(hold), u64::from(max_wait) * (2u64 << relapses));
            let since = now;
            now += standby_gap;
            prop_assert_eq!(may_return(since as u32, hold, now as u32), standby_gap >= u64::from(hold));
            if standby_gap < u64::from(hold) {
                now = since + u64::from(hold);
            }
            returned = Some(now);
            now += back_gap;
        }
    }
}
