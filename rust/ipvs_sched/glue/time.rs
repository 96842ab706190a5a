// SPDX-License-Identifier: GPL-2.0
//! Kernel time for the schedulers: `HZ` and jiffies.

use core::ptr::addr_of;
use kernel::bindings;

/// The kernel's tick rate (`HZ`, i.e. `CONFIG_HZ`; the bindings' `HZ` is the user-space 100).
pub const HZ: i32 = bindings::CONFIG_HZ as i32;

pub use crate::sched_core::jiffies::Jiffies;

/// The current time in jiffies.
pub fn jiffies() -> Jiffies {
    // SAFETY: `jiffies` is a kernel variable updated by the timer interrupt; reading it with
    // a volatile load is what the C macro does.
    unsafe { core::ptr::read_volatile(addr_of!(bindings::jiffies)) }
}
