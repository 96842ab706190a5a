//! The bounded wait's clock against a model in 64-bit time: whatever the 32-bit jiffies wrap,
//! a connection expires exactly when the 64-bit clock says it waited `max_wait`.

use proptest::prelude::*;
use sock_level_hash_core::bound::{deadline, expired, queue_share};

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
}
