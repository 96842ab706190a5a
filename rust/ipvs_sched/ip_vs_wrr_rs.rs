// SPDX-License-Identifier: GPL-2.0
//! IPVS weighted round-robin scheduler (`wrr`), in Rust.
//!
//! Servers are taken in list order, a server with weight `w` `w` times per cycle of the
//! maximum weight, stepping the current weight down by the gcd of the weights, exactly as the
//! kernel's C `ip_vs_wrr`: weights 4, 3, 2 give `AABABCABC`. The state (position, current
//! weight) is per service, changed under the service's `sched_lock` and freed after an RCU
//! grace period. Like C's `mark->cl`, the position is the list node of the last server chosen:
//! the service's place, which the glue keeps ([`glue::PlaceGuard`]), so each call continues
//! from there; the levels (C's `cw`, `mw`, `di`) are the service's data, under the same lock
//! ([`glue::PlaceLocked`]).

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, DestChange, Packet, PerService, PlaceLocked, Scheduler, Service};
use sched_core::wrr::{self, Levels};

glue::module_ipvs_scheduler! {
    type: Wrr,
    name: "ip_vs_wrr_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs weighted round-robin scheduler (Rust)",
    license: "GPL",
}

struct Wrr;

fn weights(svc: &Service) -> impl Iterator<Item = i32> + '_ {
    svc.destinations().map(|dest| dest.weight())
}

/// A server list changed: C's `ip_vs_wrr_dest_changed()`, which also puts the position back at
/// the head.
fn dest_changed(svc: &Service, levels: &PlaceLocked<Levels>, change: &DestChange<'_>) -> Result {
    let mut guard = change.lock_place();
    let (levels, place) = levels.access_mut(&mut guard);
    levels.dest_changed(weights(svc));
    place.set(place.head());
    Ok(())
}

impl PerService for PlaceLocked<Levels> {
    fn init(svc: &Service) -> Result<Self> {
        Ok(PlaceLocked::new(Levels::new(weights(svc))))
    }
}

impl Scheduler for Wrr {
    const NAME: &'static CStr = c_str!("wrr");
    type ServiceData = PlaceLocked<Levels>;

    fn add_dest(svc: &Service, levels: &Self::ServiceData, change: &DestChange<'_>) -> Result {
        dest_changed(svc, levels, change)
    }

    fn del_dest(svc: &Service, levels: &Self::ServiceData, change: &DestChange<'_>) -> Result {
        dest_changed(svc, levels, change)
    }

    fn upd_dest(svc: &Service, levels: &Self::ServiceData, change: &DestChange<'_>) -> Result {
        dest_changed(svc, levels, change)
    }

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(
        svc: &'a Service,
        levels: &Self::ServiceData,
        pkt: &'a Packet,
    ) -> Option<&'a Dest> {
        let mut guard = pkt.lock_place();
        let (levels, place) = levels.access_mut(&mut guard);
        let walker = place.walker();
        // The server itself: the pass reads its flags, then its weight (`WrrLoad`).
        let (at, chosen) = levels.schedule(
            place.head(),
            place.at(),
            move |from| walker.after(from),
            |dest: &&'a Dest| *dest,
        );
        place.set(at);
        // A refusal is logged under the lock, as C does.
        chosen.or_else(|| match levels.refusal() {
            wrr::NoDest::NoneAvailable => svc.refuse(c_str!("no destination available")),
            wrr::NoDest::AllOverloaded => svc.refuse(c_str!(
                "no destination available: all destinations are overloaded"
            )),
        })
    }
}
