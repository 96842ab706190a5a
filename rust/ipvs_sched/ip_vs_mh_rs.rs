// SPDX-License-Identifier: GPL-2.0
//! IPVS Maglev hashing scheduler (`mh`), in Rust.
//!
//! Maglev consistent hashing (Eisenbud et al., NSDI 2016): each real server has its own
//! permutation of the lookup table's buckets, derived from its address and port, and the
//! servers take turns (as many per round as their weight allows) claiming their next
//! preferred free bucket until the table is full. The client's address (and port, with
//! `mh-port`) hashes to a bucket; removing a server moves mostly that server's clients. With
//! `mh-fallback` a client of an unavailable server goes on along its hash sequence. Exactly
//! the kernel's C `ip_vs_mh`: the same siphash keys and table, rebuilt when a server is
//! added, deleted or edited. The decisions are the pure code of `core/src/mh.rs`; the table
//! holds references on its servers and is replaced as a whole under RCU.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, DestChange, DestRef, Packet, PerService, RcuTable, Scheduler, Service};
use sched_core::mh;

glue::module_ipvs_scheduler! {
    type: Mh,
    name: "ip_vs_mh_rs",
    author: "Socket Level Hash Developers",
    description: "Maglev hashing ipvs scheduler (Rust)",
    license: "GPL",
}

/// C's `s->lookup`.
type Lookup = RcuTable<DestRef, { mh::TAB_SIZE }>;

/// C's `ip_vs_mh_reassign()`, into a new table; the per-server scratch is allocated for the
/// call, as C's is.
fn fill(svc: &Service) -> impl FnOnce(&mut mh::Table<DestRef>) -> Result + '_ {
    |table| {
        let mut setup = KVec::new();
        for _ in svc.destinations() {
            setup.push(mh::DestSetup::default(), GFP_KERNEL)?;
        }
        let dests = svc.destinations().map(|dest| (DestRef::new(dest), dest));
        mh::reassign(table, &mut setup, svc.is_ipv6(), dests).map_err(|_| EINVAL)
    }
}

/// C's `ip_vs_mh_dest_changed()`.
fn dest_changed(svc: &Service, lookup: &Lookup, change: &DestChange<'_>) -> Result {
    lookup.replace(change, fill(svc))
}

impl PerService for Lookup {
    fn init(svc: &Service) -> Result<Self> {
        RcuTable::new(fill(svc))
    }
}

struct Mh;

impl Scheduler for Mh {
    const NAME: &'static CStr = c_str!("mh");
    type ServiceData = Lookup;

    fn add_dest(svc: &Service, lookup: &Lookup, change: &DestChange<'_>) -> Result {
        dest_changed(svc, lookup, change)
    }

    fn del_dest(svc: &Service, lookup: &Lookup, change: &DestChange<'_>) -> Result {
        dest_changed(svc, lookup, change)
    }

    fn upd_dest(svc: &Service, lookup: &Lookup, change: &DestChange<'_>) -> Result {
        dest_changed(svc, lookup, change)
    }

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, lookup: &'a Lookup, pkt: &'a Packet) -> Option<&'a Dest> {
        let flags = svc.flags();
        // Read from the packet only when the service hashes ports, as C.
        let port = if flags & mh::SVC_F_SCHED_MH_PORT != 0 {
            pkt.client_port()
        } else {
            0
        };
        let chosen = mh::schedule(
            lookup.get(pkt),
            pkt.is_ipv6(),
            flags,
            pkt.client_addr(),
            port,
            |dest: &'a DestRef| &**dest,
        );
        match chosen {
            Some(dest) => Some(&**dest),
            None => svc.refuse(c_str!("no destination available")),
        }
    }
}
