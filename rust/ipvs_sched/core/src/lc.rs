// SPDX-License-Identifier: GPL-2.0
//! Least-connection choice, exactly as the kernel's `ip_vs_lc.c` makes it.
//!
//! The server with the least `activeconns * 256 + totalconns` (`ip_vs_dest_conn_overhead()`)
//! gets the connection, whatever its weight, as long as the weight is not 0 (quiesced) and
//! the server is not overloaded; the first in list order wins a tie.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a transcription of the C loop.
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `ip_vs_lc_schedule()`: the first destination, in list order, with the least overhead.
///
/// Like C: an overloaded destination, or one whose weight is exactly 0, is skipped (a
/// negative weight is not: C tests `== 0`); the overhead is compared as C's
/// `unsigned int`s (`doh < loh`), so an overhead that wrapped negative in `int` counts as a
/// huge one. Values are read in C's order: the flags, the weight, the two counters. `None`
/// when no destination qualifies (C logs "no destination available").
pub fn pick<T, L, I>(dests: I) -> Option<T>
where
    L: ServerLoad,
    I: IntoIterator<Item = (T, L)>,
{
    let mut least: Option<T> = None;
    let mut loh: u32 = 0;
    for (dest, load) in dests {
        if load.overloaded() || load.weight() == 0 {
            continue;
        }
        // C assigns the `int` of `ip_vs_dest_conn_overhead()` to an `unsigned int`.
        let doh = load.overhead() as u32;
        if least.is_none() || doh < loh {
            least = Some(dest);
            loh = doh;
        }
    }
    least
}
