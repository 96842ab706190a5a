// SPDX-License-Identifier: GPL-2.0
//! What an option call needs besides the socket: the three options ([`SockOpt`]), the errnos
//! that `kernel::error::code` does not name, and the number of possible CPUs (what `-1`
//! queues means).
//!
//! None of it is about one socket, so it is not in `sock.rs`; it is in the glue so that the
//! policy matches options by name and reads no kernel variable itself.

use core::ffi::c_int;
use kernel::{bindings, prelude::*};

/// `EOPNOTSUPP` and `ENOPROTOOPT`, which `kernel::error::code` does not name.
pub(crate) fn errno(code: u32) -> Error {
    Error::from_errno(-(code as i32))
}

/// `ENOPROTOOPT`: not one of our options.
pub(super) fn enoprotoopt() -> Error {
    errno(bindings::ENOPROTOOPT)
}

/// The three socket options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SockOpt {
    /// `SO_SOCKLEVELHASH`.
    Config,
    /// `SO_SOCKADDLSPH`.
    Register,
    /// `SO_SOCKLEVELHASH_INFO`.
    Info,
}

impl SockOpt {
    pub(super) fn from_raw(optname: c_int) -> Option<Self> {
        match u32::try_from(optname).ok()? {
            bindings::SO_SOCKLEVELHASH => Some(Self::Config),
            bindings::SO_SOCKADDLSPH => Some(Self::Register),
            bindings::SO_SOCKLEVELHASH_INFO => Some(Self::Info),
            _ => None,
        }
    }
}

/// The number of possible CPUs (`nr_cpu_ids`).
pub(crate) fn nr_cpu_ids() -> u32 {
    // SAFETY: set once during boot, read-only afterwards.
    unsafe { bindings::nr_cpu_ids }
}
