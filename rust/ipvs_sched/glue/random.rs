// SPDX-License-Identifier: GPL-2.0
//! The kernel's random numbers, for the randomised schedulers (twos).

use kernel::bindings;

/// A uniformly random number in `0..ceil` (any `u32` for `ceil == 0`): C's
/// `get_random_u32_below()`, whose out-of-line half this calls for a `ceil` not known at
/// compile time, as the inline C does.
pub fn random_u32_below(ceil: u32) -> u32 {
    // SAFETY: the function has no preconditions; it may be called from any context.
    unsafe { bindings::__get_random_u32_below(ceil) }
}
