// SPDX-License-Identifier: GPL-2.0
//! Shortest-expected-delay choice, exactly as the kernel's `ip_vs_sed.c` makes it.
//!
//! The expected delay of a new job on a server is `(activeconns + 1) / weight`: the
//! connection goes to the server where it is least, among those with a positive weight
//! that are not overloaded; the first in list order wins a tie. Unlike wlc, inactive
//! connections do not count, and the new job itself does (the `+ 1`), which favours the
//! heavier servers of an idle cluster.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a transcription of the C loop.
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `ip_vs_sed_dest_overhead()`: `activeconns + 1`, in `int` (wrapping as the kernel's
/// `-fno-strict-overflow` build does).
pub fn overhead<L: ServerLoad>(load: &L) -> i32 {
    load.activeconns().wrapping_add(1)
}

/// `ip_vs_sed_schedule()`: the destination with the least `(activeconns + 1) / weight`.
///
/// Like C (and wlc): the first destination that is not overloaded and has a positive weight
/// is the candidate; a later one that is not overloaded replaces it only when strictly less
/// loaded, compared without division (`(s64)loh * weight > (s64)doh * least_weight`, the
/// candidate's weight read again at each comparison). A later weight-0 (or negative)
/// destination is not skipped, as in C; it cannot win unless overheads are negative.
/// `None` when no destination qualifies (C logs "no destination available").
pub fn pick<T, L, I>(dests: I) -> Option<T>
where
    L: ServerLoad,
    I: IntoIterator<Item = (T, L)>,
{
    let mut dests = dests.into_iter();
    let (mut least, mut least_load) = dests.find(|(_, d)| !d.overloaded() && d.weight() > 0)?;
    let mut loh = overhead(&least_load);
    for (dest, load) in dests {
        if load.overloaded() {
            continue;
        }
        let doh = overhead(&load);
        if i64::from(loh) * i64::from(load.weight())
            > i64::from(doh) * i64::from(least_load.weight())
        {
            least = dest;
            least_load = load;
            loh = doh;
        }
    }
    Some(least)
}
