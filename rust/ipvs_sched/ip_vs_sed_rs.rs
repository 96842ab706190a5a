// SPDX-License-Identifier: GPL-2.0
//! IPVS shortest expected delay scheduler (`sed`), in Rust.
//!
//! A new connection goes to the real server with the least `(activeconns + 1) / weight`, as
//! the kernel's C `ip_vs_sed` chooses. Load this module instead of the C one and `ipvsadm -A ... -s sed` uses it.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, Packet, Scheduler, Service};
use sched_core::sed;

glue::module_ipvs_scheduler! {
    type: Sed,
    name: "ip_vs_sed_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs shortest expected delay scheduler (Rust)",
    license: "GPL",
}

struct Sed;

impl Scheduler for Sed {
    const NAME: &'static CStr = c_str!("sed");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), _pkt: &Packet) -> Option<&'a Dest> {
        // Each server is its own load: the rule reads the values it tests, when it tests them.
        let chosen = sed::pick(svc.destinations().map(|dest| (dest, dest)));
        chosen.or_else(|| svc.refuse(c_str!("no destination available")))
    }
}
