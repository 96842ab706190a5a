// SPDX-License-Identifier: GPL-2.0
//! IPVS least-connection scheduler (`lc`), in Rust.
//!
//! A new connection goes to the real server with the least `activeconns * 256 + totalconns`
//! (weights only exclude the servers of weight 0), as the kernel's C `ip_vs_lc` chooses. Load this module instead of the C one and `ipvsadm -A ... -s lc` uses it.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, Packet, Scheduler, Service};
use sched_core::lc;

glue::module_ipvs_scheduler! {
    type: Lc,
    name: "ip_vs_lc_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs least connection scheduler (Rust)",
    license: "GPL",
}

struct Lc;

impl Scheduler for Lc {
    const NAME: &'static CStr = c_str!("lc");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), _pkt: &Packet) -> Option<&'a Dest> {
        // Each server is its own load: the rule reads the values it tests, when it tests them.
        let chosen = lc::pick(svc.destinations().map(|dest| (dest, dest)));
        chosen.or_else(|| svc.refuse(c_str!("no destination available")))
    }
}
