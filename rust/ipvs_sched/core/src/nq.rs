// SPDX-License-Identifier: GPL-2.0
//! Never-queue choice, exactly as the kernel's `ip_vs_nq.c` makes it.
//!
//! An idle server (no active connection) gets the connection at once: the first idle one in
//! list order. When none is idle, the choice is sed's: the least `(activeconns + 1) / weight`.
//! Servers that are overloaded or have weight 0 are skipped.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a transcription of the C loop.
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `ip_vs_nq_schedule()`.
///
/// Like C, in list order: a destination that is overloaded or whose weight is exactly 0 is
/// skipped (`!weight`: a negative weight is not skipped); its overhead is
/// `activeconns + 1` (`int`, wrapping); if `activeconns` (read again, as C reads it twice)
/// is 0, it is the choice at once; otherwise it replaces the candidate when there is none yet
/// or when `(s64)loh * weight > (s64)doh * least_weight`. `None` when no destination
/// qualifies (C logs "no destination available").
pub fn pick<L, I>(dests: I) -> Option<L>
where
    L: ServerLoad,
    I: IntoIterator<Item = L>,
{
    // Each server is its own load, so the candidate is one value: carrying a (server, load)
    // pair as the other rules do cost the kernel's loop two callee-saved registers.
    let mut least: Option<L> = None;
    let mut loh: i32 = 0;
    for dest in dests {
        if dest.overloaded() || dest.weight() == 0 {
            continue;
        }
        let doh = dest.activeconns().wrapping_add(1);
        if dest.activeconns() == 0 {
            return Some(dest);
        }
        let replace = match &least {
            None => true,
            Some(least) => {
                i64::from(loh) * i64::from(dest.weight())
                    > i64::from(doh) * i64::from(least.weight())
            }
        };
        if replace {
            least = Some(dest);
            loh = doh;
        }
    }
    least
}
