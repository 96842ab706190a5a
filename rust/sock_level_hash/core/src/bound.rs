// SPDX-License-Identifier: GPL-2.0 OR MIT
//! The bounds that keep stickiness from costing availability: how long a parked connection
//! waits for its owner, how many connections one queue may hold, when an owner that does
//! not keep up goes on standby (its buckets go to the others until it accepts again), and how
//! long it stays there at least, so that a slow but live owner does not flap.
//!
//! Times are jiffies truncated to 32 bits, compared with wrapping arithmetic as the kernel's
//! `time_after()` does; a bounded wait is far shorter than half the 32-bit range.
#![forbid(unsafe_code)]

/// Connections in a row that an owner lets reach the bounded wait before it goes on standby:
/// one late connection may be a hiccup, two in a row without an accept between them are not.
pub const MISSES_FOR_STANDBY: u32 = 2;

/// The most connections one queue may hold: its share of the listen backlog among the
/// `registered` processes that take buckets (not on standby), rounded up, and at least one. Every queue full at once fills the
/// backlog exactly; one queue whose owner stopped never holds more than its share.
pub const fn queue_share(max_backlog: u32, registered: u32) -> u32 {
    let registered = if registered == 0 { 1 } else { registered };
    let share = max_backlog.div_ceil(registered);
    if share == 0 {
        1
    } else {
        share
    }
}

/// Whether a connection parked at `parked` has waited `max_wait` (both in jiffies) at `now`.
pub const fn expired(parked: u32, now: u32, max_wait: u32) -> bool {
    now.wrapping_sub(parked) >= max_wait
}

/// When a connection parked at `parked` expires.
pub const fn deadline(parked: u32, max_wait: u32) -> u32 {
    parked.wrapping_add(max_wait)
}

/// Whether an owner that missed the bound `misses` times in a row goes on standby.
pub const fn goes_on_standby(misses: u32) -> bool {
    misses >= MISSES_FOR_STANDBY
}

/// A demotion within this many bounded waits of the owner's last return is a relapse: the
/// owner came back and at once fell behind again.
pub const RELAPSE_WINDOW_MAX_WAITS: u32 = 50;

/// The standby hold doubles with each relapse, up to this many times.
pub const HOLD_DOUBLINGS_MAX: u32 = 5;

/// The relapses of an owner demoted at `now` that had `relapses` and last came back from
/// standby at `returned` (`None`: never on standby before): one more if it came back less
/// than [`RELAPSE_WINDOW_MAX_WAITS`] bounded waits ago, none otherwise.
pub const fn relapses_after_demotion(
    relapses: u32,
    returned: Option<u32>,
    now: u32,
    max_wait: u32,
) -> u32 {
    match returned {
        Some(at) if !expired(at, now, max_wait.saturating_mul(RELAPSE_WINDOW_MAX_WAITS)) => {
            if relapses < HOLD_DOUBLINGS_MAX {
                relapses + 1
            } else {
                HOLD_DOUBLINGS_MAX
            }
        }
        _ => 0,
    }
}

/// How long an owner demoted after `relapses` relapses stays on standby at least, even if it
/// accepts: twice the bounded wait, doubled per relapse (at most 64 bounded waits). A stopped
/// owner is on standby far longer anyway; a slow one comes back ever more rarely, so that its
/// clients stay with the owners that took its buckets.
pub const fn standby_hold(max_wait: u32, relapses: u32) -> u32 {
    let doublings = if relapses < HOLD_DOUBLINGS_MAX {
        relapses
    } else {
        HOLD_DOUBLINGS_MAX
    };
    max_wait.saturating_mul(2 << doublings)
}

/// Whether an owner on standby since `since` for at least `hold` may come back at `now`.
pub const fn may_return(since: u32, hold: u32, now: u32) -> bool {
    expired(since, now, hold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_rounds_up_and_is_never_zero() {
        assert_eq!(queue_share(4096, 4), 1024);
        assert_eq!(queue_share(10, 4), 3);
        assert_eq!(queue_share(10, 0), 10);
        assert_eq!(queue_share(0, 4), 1);
        assert_eq!(queue_share(1, 300), 1);
        assert_eq!(queue_share(u32::MAX, 1), u32::MAX);
    }

    #[test]
    fn waits_across_the_jiffies_wrap() {
        let parked = u32::MAX - 10;
        assert!(!expired(parked, parked, 200));
        assert!(!expired(parked, parked.wrapping_add(199), 200));
        assert!(expired(parked, parked.wrapping_add(200), 200));
        assert_eq!(deadline(parked, 200), 189);
        assert!(expired(parked, deadline(parked, 200), 200));
    }

    #[test]
    fn relapses_double_the_hold_up_to_a_cap() {
        let max_wait = 200;
        assert_eq!(relapses_after_demotion(0, None, 5000, max_wait), 0);
        assert_eq!(standby_hold(max_wait, 0), 400);
        // Back at 1000, behind again at 1500: a relapse.
        assert_eq!(relapses_after_demotion(0, Some(1000), 1500, max_wait), 1);
        assert_eq!(standby_hold(max_wait, 1), 800);
        // Kept up for 50 bounded waits: the count starts again.
        assert_eq!(
            relapses_after_demotion(3, Some(1000), 1000 + 50 * 200, max_wait),
            0
        );
        assert_eq!(
            relapses_after_demotion(3, Some(1000), 1000 + 50 * 200 - 1, max_wait),
            4
        );
        assert_eq!(
            relapses_after_demotion(HOLD_DOUBLINGS_MAX, Some(0), 1, max_wait),
            HOLD_DOUBLINGS_MAX
        );
        assert_eq!(standby_hold(max_wait, 99), 64 * 200);
        assert_eq!(standby_hold(u32::MAX, 1), u32::MAX);
        assert!(!may_return(1000, 400, 1399));
        assert!(may_return(1000, 400, 1400));
    }

    #[test]
    fn two_misses_in_a_row() {
        assert!(!goes_on_standby(1));
        assert!(goes_on_standby(2));
    }
}
