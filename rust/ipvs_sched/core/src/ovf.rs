// SPDX-License-Identifier: GPL-2.0
//! Overflow-connection choice, exactly as the kernel's `ip_vs_ovf.c` makes it.
//!
//! Connections go to the server with the highest weight until its active connections exceed
//! its weight; then to the next highest, and so on (the first in list order among equals).
//! Servers that are overloaded or have weight 0 are skipped.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a transcription of the C loop.
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `ip_vs_ovf_schedule()`.
///
/// Like C, in list order: the weight `w` is read once, then the flags, then `activeconns`;
/// a destination that is overloaded, has `activeconns > w` or `w == 0` is skipped (a
/// negative weight is not skipped when `activeconns <= w`); the first one left is the
/// candidate and a later one replaces it when `w > hw`. `None` when no destination
/// qualifies (C logs "no destination available").
pub fn pick<T, L, I>(dests: I) -> Option<T>
where
    L: ServerLoad,
    I: IntoIterator<Item = (T, L)>,
{
    let mut h: Option<T> = None;
    let mut hw: i32 = 0;
    for (dest, load) in dests {
        let w = load.weight();
        if load.overloaded() || load.activeconns() > w || w == 0 {
            continue;
        }
        if h.is_none() || w > hw {
            h = Some(dest);
            hw = w;
        }
    }
    h
}
