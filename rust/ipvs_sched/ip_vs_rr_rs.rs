// SPDX-License-Identifier: GPL-2.0
//! IPVS round-robin scheduler (`rr`), in Rust.
//!
//! Each new connection goes to the next real server in list order, wrapping around, skipping
//! the servers of weight 0 and the overloaded ones, exactly as the kernel's C `ip_vs_rr`. The
//! service's place in the list (C's `svc->sched_data`) is the glue's ([`glue::PlaceGuard`]),
//! which keeps it as C's rr does: the same server across edits and additions, the one before
//! it when it is deleted. The decision is the pure code of `core/src/rr.rs`.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, Packet, Scheduler, Service};
use sched_core::rr;

glue::module_ipvs_scheduler! {
    type: Rr,
    name: "ip_vs_rr_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs round-robin scheduler (Rust)",
    license: "GPL",
}

struct Rr;

impl Scheduler for Rr {
    const NAME: &'static CStr = c_str!("rr");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), pkt: &'a Packet) -> Option<&'a Dest> {
        let place = pkt.lock_place();
        let walk = |from| {
            place
                .walk_after(from)
                .map(|(cursor, dest)| (cursor, (dest, dest)))
        };
        match rr::pick(place.head(), place.at(), walk) {
            Some((cursor, dest)) => {
                place.set(cursor);
                Some(dest)
            }
            None => {
                // Unlocked first, as C.
                drop(place);
                svc.refuse(c_str!("no destination available"))
            }
        }
    }
}
