// SPDX-License-Identifier: GPL-2.0
//! The real server as the least-connection rules read it: `wlc::ServerLoad` on the glue's
//! [`Dest`], each value loaded when the rule tests it, as C's `atomic_read()`s are.
//!
//! The core's rules take any `ServerLoad`; this is the one the modules pass them.
#![forbid(unsafe_code)]

use super::Dest;
use crate::sched_core::wlc::ServerLoad;

impl ServerLoad for Dest {
    fn weight(&self) -> i32 {
        Dest::weight(self)
    }
    fn overloaded(&self) -> bool {
        self.is_overloaded()
    }
    fn activeconns(&self) -> i32 {
        Dest::activeconns(self)
    }
    fn totalconns(&self) -> i32 {
        Dest::totalconns(self)
    }
    fn available(&self) -> bool {
        self.is_available()
    }
}

impl crate::sched_core::mh::MhDest for Dest {
    fn last_weight(&self) -> i32 {
        Dest::last_weight(self)
    }
    fn addr(&self) -> super::Addr {
        Dest::addr(self)
    }
    fn port(&self) -> u16 {
        Dest::port(self)
    }
}
