// SPDX-License-Identifier: GPL-2.0
//! IPVS scheduler glue: the one place where the Rust schedulers meet IPVS's C code.
//!
//! Every `unsafe` block and every call into IPVS made for the Rust schedulers is in this
//! directory, one abstraction per file. A scheduler implements [`Scheduler`] (in the style of
//! `kernel::net::phy::Driver`) and declares its module with [`module_ipvs_scheduler!`]; IPVS
//! then calls the scheduler through an `ip_vs_scheduler` table whose entries are the
//! `extern "C"` trampolines of [`scheduler`]. The scheduler sees IPVS objects only through the
//! safe views [`Service`], [`Packet`] and [`Dest`].
//!
//! Each scheduler module mounts this directory as `crate::glue` and the pure decision code
//! (`core/src/lib.rs`) as `crate::sched_core` (the macros name them so):
//!
//! ```ignore
//! #[path = "glue/mod.rs"]
//! pub mod glue;
//! #[path = "core/src/lib.rs"]
//! pub mod sched_core;
//! ```
//!
//! The module's crate is a library: what a module does not use is public API, not dead code.

mod dest;
mod dest_ref;
mod destinations;
mod net_sysctl;
mod packet;
mod place;
mod random;
mod rcu_list;
mod rcu_table;
mod sched_lock;
pub mod scheduler;
mod server_load;
mod service;
mod time;

pub use dest::{Addr, Dest};
pub use dest_ref::DestRef;
pub use destinations::{DestChange, Destinations};
pub use net_sysctl::{NetSysctl, NetSysctlDef, NetSysctlRegistration};
pub use packet::Packet;
pub use place::{PlaceCursor, PlaceGuard, PlaceWalk, PlaceWalker};
pub use random::random_u32_below;
pub use rcu_list::{RcuIter, RcuList, ReadSide};
pub use rcu_table::RcuTable;
pub use sched_lock::{PlaceLocked, SchedGuard, SchedLocked};
pub use scheduler::{PerService, Registration, Scheduler, TimerContext};
pub use service::Service;
pub use time::{jiffies, Jiffies, HZ};

pub use crate::{module_ipvs_scheduler, net_sysctl};
