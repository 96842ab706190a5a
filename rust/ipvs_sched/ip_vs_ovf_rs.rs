// SPDX-License-Identifier: GPL-2.0
//! IPVS overflow-connection scheduler (`ovf`), in Rust.
//!
//! Every new connection goes to the real server of the highest weight whose active
//! connections do not exceed its weight, as the kernel's C `ip_vs_ovf` chooses; when every
//! server is full the connection is refused. Load this module instead of the C one and `ipvsadm -A ... -s ovf` uses it.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, Packet, Scheduler, Service};
use sched_core::ovf;

glue::module_ipvs_scheduler! {
    type: Ovf,
    name: "ip_vs_ovf_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs overflow connection scheduler (Rust)",
    license: "GPL",
}

struct Ovf;

impl Scheduler for Ovf {
    const NAME: &'static CStr = c_str!("ovf");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), _pkt: &Packet) -> Option<&'a Dest> {
        // Each server is its own load: the rule reads the values it tests, when it tests them.
        let chosen = ovf::pick(svc.destinations().map(|dest| (dest, dest)));
        chosen.or_else(|| svc.refuse(c_str!("no destination available")))
    }
}
