// SPDX-License-Identifier: GPL-2.0
//! IPVS weighted round-robin scheduler (`wrr`), in Rust.
//!
//! Servers are taken in list order, a server with weight `w` `w` times per cycle of the
//! maximum weight, stepping the current weight down by the gcd of the weights, exactly as the
//! kernel's C `ip_vs_wrr`: weights 4, 3, 2 give `AABABCABC`. The state (position, current
//! weight) is per service, changed under the service's `sched_lock` and freed after an RCU
//! grace period. Like C's `mark->cl`, the position is the list node of the last server chosen
//! (a [`DestCursor`]), so each call continues from there.

/// C's `struct ip_vs_wrr_mark`, its position a place in the list.
type Mark = wrr::Mark<DestCursor>;

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, DestChange, DestCursor, Packet, PerService, SchedLocked, Scheduler, Service};
use sched_core::wrr;

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

/// A server list changed: C's `ip_vs_wrr_dest_changed()`.
fn dest_changed(svc: &Service, mark: &SchedLocked<Mark>) -> Result {
    mark.lock().dest_changed(weights(svc));
    Ok(())
}

impl PerService for SchedLocked<Mark> {
    fn init(svc: &Service) -> Result<Self> {
        Ok(SchedLocked::new(svc, Mark::new(weights(svc))))
    }
}

impl Scheduler for Wrr {
    const NAME: &'static CStr = c_str!("wrr");
    type ServiceData = SchedLocked<Mark>;

    fn add_dest(svc: &Service, mark: &Self::ServiceData, _change: &DestChange<'_>) -> Result {
        dest_changed(svc, mark)
    }

    fn del_dest(svc: &Service, mark: &Self::ServiceData, _change: &DestChange<'_>) -> Result {
        dest_changed(svc, mark)
    }

    fn upd_dest(svc: &Service, mark: &Self::ServiceData, _change: &DestChange<'_>) -> Result {
        dest_changed(svc, mark)
    }

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(
        svc: &'a Service,
        mark: &Self::ServiceData,
        pkt: &'a Packet,
    ) -> Option<&'a Dest> {
        let walk = |from| {
            let from = match from {
                wrr::Position::Head => None,
                wrr::Position::At(cursor) => Some(cursor),
            };
            svc.destinations_after(pkt, from)
        };
        let weight_of = |dest: &&Dest| wrr::DestWeight {
            weight: dest.weight(),
            overloaded: dest.is_overloaded(),
        };
        let chosen = mark.lock().schedule(walk, weight_of);
        match chosen {
            Ok(dest) => Some(dest),
            Err(wrr::NoDest::NoneAvailable) => svc.refuse(c_str!("no destination available")),
            Err(wrr::NoDest::AllOverloaded) => svc.refuse(c_str!(
                "no destination available: all destinations are overloaded"
            )),
        }
    }
}
