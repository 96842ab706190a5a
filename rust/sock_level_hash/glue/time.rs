// SPDX-License-Identifier: GPL-2.0
//! Time as the bounded wait counts it: jiffies, low 32 bits, wrapping (see [`crate::bound`]).
//! The current time, and the earlier of two deadlines.

use core::ptr::addr_of;
use kernel::bindings;

/// The current time in jiffies, low 32 bits (see [`crate::bound`]).
pub(super) fn now() -> u32 {
    // SAFETY: `jiffies` is updated by the timer interrupt; a volatile read of an aligned word.
    (unsafe { core::ptr::read_volatile(addr_of!(bindings::jiffies)) }) as u32
}

/// The earlier of `at` and the time in `earlier` (jiffies, wrapping).
pub(super) fn earliest(earlier: Option<u32>, at: u32) -> u32 {
    match earlier {
        Some(old) if (old.wrapping_sub(at) as i32) < 0 => old,
        _ => at,
    }
}
