// SPDX-License-Identifier: GPL-2.0
//! IPVS never queue scheduler (`nq`), in Rust.
//!
//! A new connection goes to an idle real server (no active connection) if there is one, else
//! to the one with the least `(activeconns + 1) / weight`, as the kernel's C `ip_vs_nq`
//! chooses. Load this module instead of the C one and `ipvsadm -A ... -s nq` uses it.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{Dest, Packet, Scheduler, Service};
use sched_core::nq;

glue::module_ipvs_scheduler! {
    type: Nq,
    name: "ip_vs_nq_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs never queue scheduler (Rust)",
    license: "GPL",
}

struct Nq;

impl Scheduler for Nq {
    const NAME: &'static CStr = c_str!("nq");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), _pkt: &Packet) -> Option<&'a Dest> {
        // Each server is its own load: the rule reads the values it tests, when it tests them.
        let chosen = nq::pick(svc.destinations());
        chosen.or_else(|| svc.refuse(c_str!("no destination available")))
    }
}
