// SPDX-License-Identifier: GPL-2.0
//! Pure decision cores of the Rust IPVS schedulers.
//!
//! Each kernel module in `rust/ipvs_sched/` mounts this very file as its module `sched_core`
//! (`#[path = "core/src/lib.rs"] pub mod sched_core;`); this crate exists so that the host can
//! unit- and property-test the same code with cargo. `no_std` is the crate's attribute on the
//! host; in the kernel (`CONFIG_RUST`) this file is a module of a crate that is `no_std` already.
#![cfg_attr(not(CONFIG_RUST), no_std)]
#![forbid(unsafe_code)]

pub mod dh;
pub mod fo;
pub mod hash;
pub mod jiffies;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod siphash;
pub mod twos;
pub mod wlc;
pub mod wrr;
