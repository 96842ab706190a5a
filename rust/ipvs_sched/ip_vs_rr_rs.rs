// SPDX-License-Identifier: GPL-2.0
//! IPVS round-robin scheduler (`rr`), in Rust.
//!
//! Each new connection goes to the next real server in list order, wrapping around, skipping
//! the servers of weight 0 and the overloaded ones, exactly as the kernel's C `ip_vs_rr`. The
//! service keeps its place in the list (C's `svc->sched_data`) under its `sched_lock`, across
//! server edits and additions; when the server at the place is deleted, the place steps back
//! to the one before it. The decision is the pure code of `core/src/rr.rs`.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, DestChange, DestCursor, Packet, PerService, SchedLocked, Scheduler, Service};
use sched_core::rr;

glue::module_ipvs_scheduler! {
    type: Rr,
    name: "ip_vs_rr_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs round-robin scheduler (Rust)",
    license: "GPL",
}

/// The place in the list: the last server chosen, `None` for the list head.
type Place = SchedLocked<Option<DestCursor>>;

impl PerService for Place {
    fn init(svc: &Service) -> Result<Self> {
        Ok(SchedLocked::new(svc, None))
    }
}

/// The list changed: keep the place (C's rr does nothing on add and edit, steps back on delete).
fn keep_place(svc: &Service, place: &Place, change: &DestChange<'_>) -> Result {
    let mut place = place.lock();
    *place = svc.keep_place(change, *place);
    Ok(())
}

struct Rr;

impl Scheduler for Rr {
    const NAME: &'static CStr = c_str!("rr");
    type ServiceData = Place;

    fn add_dest(svc: &Service, place: &Place, change: &DestChange<'_>) -> Result {
        keep_place(svc, place, change)
    }

    fn del_dest(svc: &Service, place: &Place, change: &DestChange<'_>) -> Result {
        keep_place(svc, place, change)
    }

    fn upd_dest(svc: &Service, place: &Place, change: &DestChange<'_>) -> Result {
        keep_place(svc, place, change)
    }

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, place: &'a Place, pkt: &'a Packet) -> Option<&'a Dest> {
        let mut place = place.lock();
        let walk = |from| {
            svc.destinations_after(pkt, from)
                .map(|(cursor, dest)| (cursor, (dest, dest)))
        };
        match rr::pick(*place, walk) {
            Some((cursor, dest)) => {
                *place = Some(cursor);
                Some(dest)
            }
            None => svc.refuse(c_str!("no destination available")),
        }
    }
}
