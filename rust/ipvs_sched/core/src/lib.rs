// SPDX-License-Identifier: GPL-2.0
//! Pure decision cores of the Rust IPVS schedulers.
//!
//! The kernel modules in `rust/ipvs_sched/` include these very files with `#[path]`; this crate
//! exists so that the host can unit- and property-test them with cargo.
#![no_std]
#![forbid(unsafe_code)]

pub mod lblc;
pub mod lblcr;
pub mod wlc;
pub mod wrr;
