// SPDX-License-Identifier: GPL-2.0
//! IPVS destination hashing scheduler (`dh`), in Rust.
//!
//! A table of 256 buckets, filled with the real servers in list order (weights do not
//! matter), maps the hash of a connection's destination address to its server; a server that
//! is quiesced or overloaded refuses its addresses rather than pass them to another. Exactly
//! the kernel's C `ip_vs_dh`: the same hash, the same table, rebuilt when a server is added
//! or deleted. The decisions are the pure code of `core/src/dh.rs`; the table holds a
//! reference on each of its servers and is replaced as a whole under RCU.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, DestChange, DestRef, Packet, PerService, RcuTable, Scheduler, Service};
use sched_core::dh;

glue::module_ipvs_scheduler! {
    type: Dh,
    name: "ip_vs_dh_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs destination hashing scheduler (Rust)",
    license: "GPL",
}

/// C's `struct ip_vs_dh_state`.
type Buckets = RcuTable<DestRef, { dh::TAB_SIZE }>;

/// C's `ip_vs_dh_reassign()`, into a new table.
fn fill(svc: &Service) -> impl FnOnce(&mut dh::Table<DestRef>) -> Result + '_ {
    |table| {
        dh::reassign(table, svc.destinations().map(DestRef::new));
        Ok(())
    }
}

impl PerService for Buckets {
    fn init(svc: &Service) -> Result<Self> {
        RcuTable::new(fill(svc))
    }
}

struct Dh;

impl Scheduler for Dh {
    const NAME: &'static CStr = c_str!("dh");
    type ServiceData = Buckets;

    fn add_dest(svc: &Service, buckets: &Buckets, change: &DestChange<'_>) -> Result {
        buckets.replace(change, fill(svc))
    }

    fn del_dest(svc: &Service, buckets: &Buckets, change: &DestChange<'_>) -> Result {
        buckets.replace(change, fill(svc))
    }

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, buckets: &'a Buckets, pkt: &'a Packet) -> Option<&'a Dest> {
        let table = buckets.get(pkt);
        let chosen = dh::schedule(table, pkt.is_ipv6(), pkt.daddr(), |dest: &'a DestRef| {
            &**dest
        });
        match chosen {
            Some(dest) => Some(&**dest),
            None => svc.refuse(c_str!("no destination available")),
        }
    }
}
