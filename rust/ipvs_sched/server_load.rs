// SPDX-License-Identifier: GPL-2.0
//! The real server as the least-connection rules read it: `wlc::ServerLoad` on the glue's
//! [`Dest`], each value loaded when the rule tests it, as C's `atomic_read()`s are.
//!
//! Included with `#[path]` by the modules whose rules read loads (wlc, lblc, lblcr), next to
//! the glue (`ipvs`) and the pure core (`wlc`); no `unsafe` here.

use super::ipvs::Dest;
use super::wlc::ServerLoad;

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
}
