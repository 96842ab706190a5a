// SPDX-License-Identifier: GPL-2.0
//! Weighted least-connection choice, exactly as the kernel's `ip_vs_wlc.c` makes it.
//!
//! Pure code: compiled into the kernel module `ip_vs_wlc_rs` and, unchanged, into the host
//! crate `ipvs-sched-core` where it is property-tested against a reference model.

/// What the wlc choice reads of one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestLoad {
    /// `ip_vs_dest.weight`; 0 means quiesced (no new connections).
    pub weight: i32,
    /// `IP_VS_DEST_F_OVERLOAD` is set (the server reached its upper connection threshold).
    pub overloaded: bool,
    /// `ip_vs_dest.activeconns`.
    pub activeconns: i32,
    /// `ip_vs_dest.totalconns`.
    pub totalconns: i32,
}

impl DestLoad {
    /// `ip_vs_dest_conn_overhead()` of Linux 6.12: an active connection is counted as 256 times
    /// the cost of any connection. C computes this in `int`; wrapping keeps the same result.
    pub fn overhead(&self) -> i32 {
        (self.activeconns << 8).wrapping_add(self.totalconns)
    }
}

/// Picks the destination with the least `overhead / weight`, in list order.
///
/// Like C: the first destination that is not overloaded and has a positive weight is the
/// candidate; a later one replaces it only when strictly less loaded, compared without
/// division (`loh * w > doh * lw`, in 64 bits). Overloaded destinations are skipped; a later
/// weight-0 destination can never win the comparison. `None` when no destination qualifies.
pub fn pick<T, I>(dests: I) -> Option<T>
where
    I: IntoIterator<Item = (T, DestLoad)>,
{
    let mut dests = dests.into_iter();
    let (mut least, mut least_load) = dests.find(|(_, d)| !d.overloaded && d.weight > 0)?;
    let mut loh = least_load.overhead();
    for (dest, load) in dests {
        if load.overloaded {
            continue;
        }
        let doh = load.overhead();
        if i64::from(loh) * i64::from(load.weight) > i64::from(doh) * i64::from(least_load.weight) {
            least = dest;
            least_load = load;
            loh = doh;
        }
    }
    Some(least)
}
