// SPDX-License-Identifier: GPL-2.0
//! The bounds that keep stickiness from costing availability: how long a parked connection
//! waits for its owner, how many connections one queue may hold, and when an owner that does
//! not keep up goes on standby (its buckets go to the others until it accepts again).
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
    fn two_misses_in_a_row() {
        assert!(!goes_on_standby(1));
        assert!(goes_on_standby(2));
    }
}
