// SPDX-License-Identifier: GPL-2.0
//! IPVS weighted least-connection scheduler (`wlc`), in Rust.
//!
//! A new connection goes to the real server with the smallest
//! `(activeconns * 256 + totalconns) / weight`, as the kernel's C `ip_vs_wlc` chooses. Load
//! this module instead of the C one and `ipvsadm -A ... -s wlc` uses it.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, Packet, Scheduler, Service};
use sched_core::wlc;

glue::module_ipvs_scheduler! {
    type: Wlc,
    name: "ip_vs_wlc_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs weighted least connection scheduler (Rust)",
    license: "GPL",
}

struct Wlc;

impl Scheduler for Wlc {
    const NAME: &'static CStr = c_str!("wlc");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), _pkt: &Packet) -> Option<&'a Dest> {
        // Each server is its own load: the rule reads the values it tests, when it tests them.
        let chosen = wlc::pick(svc.destinations().map(|dest| (dest, dest)));
        chosen.or_else(|| svc.refuse(c_str!("no destination available")))
    }
}
