// SPDX-License-Identifier: GPL-2.0
//! IPVS weighted round-robin scheduler (`wrr`), in Rust.
//!
//! Servers are taken in list order, a server with weight `w` `w` times per cycle of the
//! maximum weight, stepping the current weight down by the gcd of the weights, exactly as the
//! kernel's C `ip_vs_wrr`: weights 4, 3, 2 give `AABABCABC`. The state (position, current
//! weight) is per service, changed under the service's `sched_lock` and freed after an RCU
//! grace period.

use kernel::{c_str, prelude::*};

#[path = "ipvs.rs"]
mod ipvs;
// The pure decision code, the same file the host crate `ipvs-sched-core` tests.
#[allow(dead_code, unreachable_pub)]
#[path = "core/src/wrr.rs"]
mod wrr;

use ipvs::{Dest, Packet, SchedLocked, Scheduler, Service};

module! {
    type: WrrModule,
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
fn dest_changed(svc: &Service, mark: &SchedLocked<wrr::Mark>) -> Result {
    mark.lock().dest_changed(weights(svc));
    Ok(())
}

impl Scheduler for Wrr {
    const NAME: &'static CStr = c_str!("wrr");
    type ServiceData = SchedLocked<wrr::Mark>;

    fn init_service(svc: &Service) -> Result<Self::ServiceData> {
        Ok(SchedLocked::new(svc, wrr::Mark::new(weights(svc))))
    }

    fn add_dest(svc: &Service, mark: &Self::ServiceData, _dest: &Dest) -> Result {
        dest_changed(svc, mark)
    }

    fn del_dest(svc: &Service, mark: &Self::ServiceData, _dest: &Dest) -> Result {
        dest_changed(svc, mark)
    }

    fn upd_dest(svc: &Service, mark: &Self::ServiceData, _dest: &Dest) -> Result {
        dest_changed(svc, mark)
    }

    fn schedule<'a>(svc: &'a Service, mark: &Self::ServiceData, _pkt: &Packet) -> Option<&'a Dest> {
        let dests = svc.destinations().map(|dest| {
            let load = wrr::DestWeight {
                weight: dest.weight(),
                overloaded: dest.is_overloaded(),
            };
            (dest, load)
        });
        let chosen = mark.lock().schedule(dests);
        match chosen {
            Ok(dest) => Some(dest),
            Err(wrr::NoDest::NoneAvailable) => {
                svc.scheduler_err(c_str!("no destination available"));
                None
            }
            Err(wrr::NoDest::AllOverloaded) => {
                svc.scheduler_err(c_str!(
                    "no destination available: all destinations are overloaded"
                ));
                None
            }
        }
    }
}

struct WrrModule {
    _registration: ipvs::Registration<Wrr>,
}

impl kernel::Module for WrrModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(WrrModule {
            _registration: ipvs::Registration::new(module)?,
        })
    }
}
