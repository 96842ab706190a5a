// SPDX-License-Identifier: GPL-2.0
//! Jiffies as C compares them: `<linux/jiffies.h>`'s wrapping comparisons, in the kernel's type.
#![forbid(unsafe_code)]

/// The kernel's `jiffies`, an `unsigned long`: `usize` on every architecture Linux runs on (the
/// kernel's Rust `ffi::c_ulong` is `usize` too).
pub type Jiffies = usize;

/// `time_after(a, b)`: `(long)(b - a) < 0`, right across a wrap of `jiffies` as long as the two
/// are less than `LONG_MAX` jiffies apart.
pub const fn time_after(a: Jiffies, b: Jiffies) -> bool {
    (b.wrapping_sub(a) as isize) < 0
}

/// `time_before(a, b)`: `time_after(b, a)`.
pub const fn time_before(a: Jiffies, b: Jiffies) -> bool {
    time_after(b, a)
}

/// C's `j + delta` for an `unsigned long` `j` and an `int` `delta`: `delta` is converted to
/// `unsigned long` (a negative one wraps) and the sum wraps.
pub const fn jiffies_add(j: Jiffies, delta: i32) -> Jiffies {
    j.wrapping_add(delta as isize as usize)
}
