// SPDX-License-Identifier: GPL-2.0
//! Benchmarks of the socket-level hash core, run by `make bench` (never by `make test`).
//!
//! Two questions, each answered against an anchor measured in the same run:
//! - how long one hash takes ([`workload`] feeds the Criterion bench `benches/hash.rs`; the
//!   anchor is DPDK's `rte_softrss`, whose `dpdk-test` output [`dpdk`] parses);
//! - how evenly the five hash functions spread real connections over N queues ([`trace`]
//!   reads the traces in place, [`balance`] counts per queue, [`stats`] summarises; the anchor
//!   is an ideal uniform random assignment of the same clients, by Monte Carlo with a fixed
//!   seed ([`rng`])).
//!
//! This library has no dependencies, so `cargo test --workspace` tests it quickly; the binaries
//! and the bench need the `bench` feature (Criterion, plotting, gzip, JSON).

pub mod balance;
pub mod cli;
pub mod dpdk;
pub mod rng;
pub mod stats;
pub mod trace;
pub mod workload;
