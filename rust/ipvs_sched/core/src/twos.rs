// SPDX-License-Identifier: GPL-2.0
//! Power-of-two-choices, exactly as the kernel's `ip_vs_twos.c` chooses.
//!
//! Two servers are drawn at random, each with a probability proportional to its weight
//! (among the servers with a positive weight that are not overloaded); the connection goes
//! to the one of the two with the lower `overhead / weight` (`activeconns * 256 +
//! totalconns`), the first draw on a tie. (Michael Mitzenmacher, "The Power of Two Random
//! Choices".)
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a transcription of the C code. The
//! randomness is a parameter: the kernel passes `get_random_u32_below()`, or
//! [`u32_below`] over `get_random_u32()`; the tests pass chosen numbers.
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `ip_vs_twos_schedule()`.
///
/// `random_below(n)` must return a number in `0..n` (any `u32` for `n == 0`), as C's
/// `get_random_u32_below(n)`; it is called twice, once per draw, when some server qualifies.
///
/// Like C: a first pass sums, in `int` (wrapping), the weights of the servers that are not
/// overloaded and have a positive weight, and remembers the last of them (`None` if there is
/// none: C logs "no destination available"). The two draws are `random_below(sum + 1)`,
/// taken as `int`. A second pass subtracts each such server's weight from both draws; the
/// first server at which a draw reaches `<= 0` is that draw's choice, its weight and its
/// overhead are read then. The second choice wins when
/// `weight2 * overhead1 > weight1 * overhead2` (`int`, wrapping). If a draw finds no server
/// (only when weights change between the passes), C's defaults stay: the first choice is
/// the server of the first pass with `weight1 = -1, overhead1 = 0`.
pub fn pick<T, L, I, R>(dests: I, mut random_below: R) -> Option<T>
where
    T: Clone,
    L: ServerLoad,
    I: Iterator<Item = (T, L)> + Clone,
    R: FnMut(u32) -> u32,
{
    let mut choice1: Option<T> = None;
    let mut total_weight: i32 = 0;
    for (dest, load) in dests.clone() {
        if !load.overloaded() {
            let weight = load.weight();
            if weight > 0 {
                total_weight = total_weight.wrapping_add(weight);
                choice1 = Some(dest);
            }
        }
    }
    let mut choice1 = choice1?;
    total_weight = total_weight.wrapping_add(1);
    // C assigns the `u32` results to `int`s.
    let mut rweight1 = random_below(total_weight as u32) as i32;
    let mut rweight2 = random_below(total_weight as u32) as i32;

    let (mut weight1, mut overhead1) = (-1i32, 0i32);
    let mut choice2: Option<(T, i32, i32)> = None;
    for (dest, load) in dests {
        if load.overloaded() {
            continue;
        }
        let weight = load.weight();
        if weight <= 0 {
            continue;
        }
        rweight1 = rweight1.wrapping_sub(weight);
        rweight2 = rweight2.wrapping_sub(weight);
        if rweight1 <= 0 && weight1 == -1 {
            choice1 = dest.clone();
            weight1 = weight;
            overhead1 = load.overhead();
        }
        if rweight2 <= 0 && choice2.is_none() {
            choice2 = Some((dest, weight, load.overhead()));
        }
        if weight1 != -1 && choice2.is_some() {
            break;
        }
    }
    if let Some((dest, weight2, overhead2)) = choice2 {
        if weight2.wrapping_mul(overhead1) > weight1.wrapping_mul(overhead2) {
            return Some(dest);
        }
    }
    Some(choice1)
}

/// `__get_random_u32_below(ceil)` of `drivers/char/random.c` (what `get_random_u32_below()`
/// calls for a `ceil` that is not a compile-time constant, as twos' is), over the values of
/// `get_random_u32()` that `next` returns: Lemire's multiply-and-shift, rejecting the
/// samples that would bias the result. `ceil == 0` gives the first value unchanged.
pub fn u32_below<N: FnMut() -> u32>(ceil: u32, mut next: N) -> u32 {
    let rand = next();
    if ceil == 0 {
        return rand;
    }
    let mut mult = u64::from(ceil) * u64::from(rand);
    if (mult as u32) < ceil {
        // `-ceil % ceil`: 2^32 mod ceil, in 32 bits. `ceil != 0` here.
        let bound = ceil.wrapping_neg().checked_rem(ceil).unwrap_or(0);
        while (mult as u32) < bound {
            mult = u64::from(ceil) * u64::from(next());
        }
    }
    (mult >> 32) as u32
}
