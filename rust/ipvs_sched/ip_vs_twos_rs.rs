// SPDX-License-Identifier: GPL-2.0
//! IPVS power-of-two-choices scheduler (`twos`), in Rust.
//!
//! Two real servers are drawn at random, each with a probability proportional to its weight;
//! the connection goes to the less loaded of the two (`(activeconns * 256 + totalconns) /
//! weight`), as the kernel's C `ip_vs_twos` chooses. The decision is the pure code of
//! `core/src/twos.rs`; the random numbers are the kernel's.

use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;

use glue::{random_u32_below, Dest, Packet, Scheduler, Service};
use sched_core::twos;

glue::module_ipvs_scheduler! {
    type: Twos,
    name: "ip_vs_twos_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs power of twos choice scheduler (Rust)",
    license: "GPL",
}

struct Twos;

impl Scheduler for Twos {
    const NAME: &'static CStr = c_str!("twos");
    type ServiceData = ();

    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, _data: &(), _pkt: &Packet) -> Option<&'a Dest> {
        let dests = svc.destinations().map(|dest| (dest, dest));
        let chosen = twos::pick(dests, random_u32_below);
        chosen.or_else(|| svc.refuse(c_str!("no destination available")))
    }
}
