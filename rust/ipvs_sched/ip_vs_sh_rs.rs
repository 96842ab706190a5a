// SPDX-License-Identifier: GPL-2.0
//! IPVS source hashing scheduler (`sh`), in Rust.
//!
//! A table of 256 buckets, where each real server takes as many buckets in a row as its
//! weight, in list order, maps the hash of the client's address (and port, with the service
//! flag `sh-port`) to its server: every connection of a client goes to the same server while
//! it is available. With `sh-fallback` a client of an unavailable server goes to the next
//! available one along its hash sequence; without it, it is refused. Exactly the kernel's C
//! `ip_vs_sh`: the same hash and table, rebuilt when a server is added, deleted or edited.
//! The decisions are the pure code of `core/src/sh.rs`; the table holds references on its
//! servers and is replaced as a whole under RCU.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, DestChange, DestRef, Packet, PerService, RcuTable, Scheduler, Service};
use sched_core::sh;

glue::module_ipvs_scheduler! {
    type: Sh,
    name: "ip_vs_sh_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs source hashing scheduler (Rust)",
    license: "GPL",
}

/// C's `struct ip_vs_sh_state`.
type Buckets = RcuTable<DestRef, { sh::TAB_SIZE }>;

/// C's `ip_vs_sh_reassign()`, into a new table.
fn fill(svc: &Service) -> impl FnOnce(&mut sh::Table<DestRef>) -> Result + '_ {
    |table| {
        sh::reassign(
            table,
            svc.destinations().map(|dest| (DestRef::new(dest), dest)),
        );
        Ok(())
    }
}

/// C's `ip_vs_sh_dest_changed()`.
fn dest_changed(svc: &Service, buckets: &Buckets, change: &DestChange<'_>) -> Result {
    buckets.replace(change, fill(svc))
}

impl PerService for Buckets {
    fn init(svc: &Service) -> Result<Self> {
        RcuTable::new(fill(svc))
    }
}

struct Sh;

impl Scheduler for Sh {
    const NAME: &'static CStr = c_str!("sh");
    type ServiceData = Buckets;

    fn add_dest(svc: &Service, buckets: &Buckets, change: &DestChange<'_>) -> Result {
        dest_changed(svc, buckets, change)
    }

    fn del_dest(svc: &Service, buckets: &Buckets, change: &DestChange<'_>) -> Result {
        dest_changed(svc, buckets, change)
    }

    fn upd_dest(svc: &Service, buckets: &Buckets, change: &DestChange<'_>) -> Result {
        dest_changed(svc, buckets, change)
    }

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, buckets: &'a Buckets, pkt: &'a Packet) -> Option<&'a Dest> {
        let flags = svc.flags();
        // Read from the packet only when the service hashes ports, as C.
        let port = if flags & sh::SVC_F_SCHED_SH_PORT != 0 {
            pkt.client_port()
        } else {
            0
        };
        let table = buckets.get(pkt);
        let chosen = sh::schedule(
            table,
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
