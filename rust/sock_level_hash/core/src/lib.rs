// SPDX-License-Identifier: GPL-2.0 OR MIT
//! Pure cores of the socket-level hash (`SO_SOCKLEVELHASH`).
//!
//! A listening socket with the option spreads completed connections over per-process queues:
//! the connection's addresses are hashed ([`hash`]), the hash picks a bucket, and the bucket
//! names the queue of the process that owns it ([`table`]). Hashing the client address only
//! sends every connection of one client to one process, so each process can keep a private
//! session table without locks.
//!
//! The kernel module includes these very files with `#[path]`; this crate exists so that the
//! host can unit- and property-test them with cargo. Hence: `core` only, no allocation, no
//! `unsafe`, no floating point. [`hash`] and [`table`] do not depend on each other; [`options`]
//! (what the socket options ask for) uses both; [`bound`] is what keeps a parked connection
//! from waiting for an owner that does not accept; [`reply`] is the bytes the options read
//! back.
#![no_std]
#![forbid(unsafe_code)]

pub mod bound;
pub mod hash;
pub mod options;
pub mod reply;
pub mod table;
