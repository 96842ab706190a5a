// SPDX-License-Identifier: GPL-2.0
//! IPVS weighted failover scheduler (`fo`), in Rust.
//!
//! Every new connection goes to the real server of the highest weight that is not
//! overloaded, as the kernel's C `ip_vs_fo` chooses. Load this module instead of the C one and `ipvsadm -A ... -s fo` uses it.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, Packet, Scheduler, Service};
use sched_core::fo;

glue::module_ipvs_scheduler! {
    type: Fo,
    name: "ip_vs_fo_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs weighted failover scheduler (Rust)",
    license: "GPL",
}

struct Fo;

impl Scheduler for Fo {
    const NAME: &'static CStr = c_str!("fo");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), _pkt: &Packet) -> Option<&'a Dest> {
        // Each server is its own load: the rule reads the values it tests, when it tests them.
        let chosen = fo::pick(svc.destinations().map(|dest| (dest, dest)));
        chosen.or_else(|| svc.refuse(c_str!("no destination available")))
    }
}
