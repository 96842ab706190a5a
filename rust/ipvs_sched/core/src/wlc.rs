// SPDX-License-Identifier: GPL-2.0
//! Weighted least-connection choice, exactly as the kernel's `ip_vs_wlc.c` makes it.
//!
//! Pure code: compiled into the kernel module `ip_vs_wlc_rs` and, unchanged, into the host
//! crate `ipvs-sched-core` where it is property-tested against a reference model.
#![forbid(unsafe_code)]

/// What the wlc choice reads of one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestLoad {
    /// `ip_vs_dest.weight`; 0 means quiesced (no new connections).
    pub weight: i32,
    /// `IP_VS_DEST_F_OVERLOAD` is set (the server reached its upper connection threshold).
    pub overloaded: bool,
    /// `IP_VS_DEST_CF_AVAILABLE` is set in `cflags`: the server is in the service's list, not
    /// in the trash (see [`ServerLoad::available`]).
    pub available: bool,
    /// `ip_vs_dest.activeconns`.
    pub activeconns: i32,
    /// `ip_vs_dest.totalconns`.
    pub totalconns: i32,
}

impl DestLoad {
    /// [`ServerLoad::overhead`] of the snapshot.
    pub fn overhead(&self) -> i32 {
        ServerLoad::overhead(self)
    }
}

/// What the least-connection rules read of one real server, each value read when a rule
/// tests it.
///
/// The kernel modules implement it on the real server itself, so that a field is loaded at
/// the moment the rule looks at it, as C's `atomic_read()`s are, and not at all when the rule
/// does not (C reads an overloaded server's flags and nothing else; a snapshot taken up front
/// would cost the packet path loads C does not make). The host tests implement it on
/// [`DestLoad`], a snapshot.
pub trait ServerLoad {
    /// `ip_vs_dest.weight`; 0 means quiesced (no new connections).
    fn weight(&self) -> i32;
    /// `IP_VS_DEST_F_OVERLOAD` is set (the server reached its upper connection threshold).
    fn overloaded(&self) -> bool;
    /// `ip_vs_dest.activeconns`.
    fn activeconns(&self) -> i32;
    /// `ip_vs_dest.totalconns`.
    fn totalconns(&self) -> i32;
    /// `IP_VS_DEST_CF_AVAILABLE` is set in `cflags`: the server is in the service's list, not
    /// in the trash. Every server of the list is; only the schedulers that keep servers in a
    /// table of their own (dh, lblc, lblcr) read it, for a server taken from that table.
    fn available(&self) -> bool;

    /// `ip_vs_dest_conn_overhead()` of Linux 6.12: an active connection is counted as 256 times
    /// the cost of any connection. C computes this in `int`; wrapping keeps the same result.
    fn overhead(&self) -> i32 {
        (self.activeconns() << 8).wrapping_add(self.totalconns())
    }
}

impl ServerLoad for DestLoad {
    fn weight(&self) -> i32 {
        self.weight
    }
    fn overloaded(&self) -> bool {
        self.overloaded
    }
    fn activeconns(&self) -> i32 {
        self.activeconns
    }
    fn totalconns(&self) -> i32 {
        self.totalconns
    }
    fn available(&self) -> bool {
        self.available
    }
}

impl<L: ServerLoad + ?Sized> ServerLoad for &L {
    fn weight(&self) -> i32 {
        (**self).weight()
    }
    fn overloaded(&self) -> bool {
        (**self).overloaded()
    }
    fn activeconns(&self) -> i32 {
        (**self).activeconns()
    }
    fn totalconns(&self) -> i32 {
        (**self).totalconns()
    }
    fn available(&self) -> bool {
        (**self).available()
    }
}

/// Picks the destination with the least `overhead / weight`, in list order.
///
/// Like C: the first destination that is not overloaded and has a positive weight is the
/// candidate; a later one replaces it only when strictly less loaded, compared without
/// division (`loh * w > doh * lw`, in 64 bits). Overloaded destinations are skipped; a later
/// weight-0 destination can never win the comparison. `None` when no destination qualifies.
/// The values are read in C's order (the flags first, the weights at the comparison, the
/// candidate's weight again at each one).
pub fn pick<T, L, I>(dests: I) -> Option<T>
where
    L: ServerLoad,
    I: IntoIterator<Item = (T, L)>,
{
    let mut dests = dests.into_iter();
    let (mut least, mut least_load) = dests.find(|(_, d)| !d.overloaded() && d.weight() > 0)?;
    let mut loh = least_load.overhead();
    for (dest, load) in dests {
        if load.overloaded() {
            continue;
        }
        let doh = load.overhead();
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
