// SPDX-License-Identifier: GPL-2.0
//! Weighted fail-over choice, exactly as the kernel's `ip_vs_fo.c` makes it.
//!
//! Every connection goes to the server with the highest weight that is not overloaded (the
//! first in list order among equals); lower-weight servers take over only when it fails
//! (its weight is set to 0) or is overloaded.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a transcription of the C loop.
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `ip_vs_fo_schedule()`: the first destination with the highest positive weight among those
/// that are not overloaded.
///
/// Like C: the flags are read, then the weight is compared with the highest so far (`> hw`,
/// `hw` starting at 0) and, when higher, read again to become `hw`. `None` when no
/// destination qualifies (C logs "no destination available").
pub fn pick<T, L, I>(dests: I) -> Option<T>
where
    L: ServerLoad,
    I: IntoIterator<Item = (T, L)>,
{
    let mut hweight: Option<T> = None;
    let mut hw: i32 = 0;
    for (dest, load) in dests {
        if !load.overloaded() && load.weight() > hw {
            hweight = Some(dest);
            hw = load.weight();
        }
    }
    hweight
}
