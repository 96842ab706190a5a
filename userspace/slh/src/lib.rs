// SPDX-License-Identifier: GPL-2.0
//! User space of the socket-level hash: `SO_SOCKLEVELHASH`, `SO_SOCKADDLSPH` and
//! `SO_SOCKLEVELHASH_INFO` on TCP listen sockets (see `userspace/README.md` for the uapi).
//!
//! A pre-fork server enables the option on its listen socket, then every worker registers
//! before accepting; the kernel then queues every connection of one client for the same worker:
//!
//! ```no_run
//! use std::net::TcpListener;
//! use slh::{HashFn, Queues, Slot, SocketLevelHash};
//!
//! let listener = TcpListener::bind("0.0.0.0:8080")?;
//! listener.enable(Queues::Count(16), HashFn::Toeplitz)?;
//! // ... fork the workers; in each:
//! let queue = listener.register(Slot::Any)?;
//! println!("worker registered to queue {queue}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`SocketLevelHash`] is implemented for everything that has a file descriptor
//! ([`std::net::TcpListener`], [`std::os::fd::OwnedFd`], and raw descriptors through
//! [`std::os::fd::BorrowedFd::borrow_raw`]).

pub mod config;
pub mod error;
pub mod info;
pub mod uapi;

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

pub use config::{Config, MaxWait, Queues};
pub use error::{Error, Op};
pub use info::{Info, QueueStats};
/// The hash functions and inputs are the kernel module's own types, shared through the pure
/// core crate so that their uapi numbers exist in one place.
pub use sock_level_hash_core::hash::{HashFn, HashInput};

use uapi::{
    Pod, SockLevelHash, SOL_SOCKET, SO_SOCKADDLSPH, SO_SOCKLEVELHASH, SO_SOCKLEVELHASH_INFO,
};

/// Which queue [`SocketLevelHash::register`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Any free queue (the usual choice: workers need not agree on indices).
    Any,
    /// This queue; `EBUSY` if another live process owns it.
    Index(u32),
}

impl Slot {
    fn to_raw(self) -> Result<i32, Error> {
        match self {
            Slot::Any => Ok(uapi::SLOT_ANY),
            Slot::Index(index) => i32::try_from(index).map_err(|_| Error::OutOfRange {
                op: Op::Register,
                what: "queue index",
                value: i64::from(index),
                allowed: "0..=2147483647",
            }),
        }
    }
}

/// The socket-level hash operations, on any socket descriptor.
pub trait SocketLevelHash {
    /// Enables the option with `queues` queues and `hash` over the client address (the input
    /// that keeps each client on one worker), with the default wait ([`MaxWait::DEFAULT`]).
    /// Works before `listen()` or on a listening socket.
    fn enable(&self, queues: Queues, hash: HashFn) -> Result<(), Error>;
    /// Enables the option with a full configuration (any hash input, any [`MaxWait`]).
    fn enable_with(&self, config: Config) -> Result<(), Error>;
    /// Turns the option off: every waiting connection moves to the normal queue and every
    /// registration ends.
    fn disable(&self) -> Result<(), Error>;
    /// The current configuration, with the resolved queue count and the wait; `None` when off.
    fn config(&self) -> Result<Option<Config>, Error>;
    /// The queue count (0 when off). Also the cheapest probe for kernel support.
    fn queue_count(&self) -> Result<u32, Error>;
    /// Registers the calling process (thread group) and returns the queue it got.
    fn register(&self, slot: Slot) -> Result<u32, Error>;
    /// Deregisters the calling process; its waiting connections move to other queues.
    fn deregister(&self) -> Result<(), Error>;
    /// The calling process's queue, `None` when it is not registered.
    fn registered_slot(&self) -> Result<Option<u32>, Error>;
    /// The queues' owners and counters.
    fn info(&self) -> Result<Info, Error>;
}

impl<T: AsFd + ?Sized> SocketLevelHash for T {
    fn enable(&self, queues: Queues, hash: HashFn) -> Result<(), Error> {
        self.enable_with(Config::new(queues, hash))
    }

    fn enable_with(&self, config: Config) -> Result<(), Error> {
        let raw = config.to_raw(Op::Enable)?;
        set(self.as_fd(), SO_SOCKLEVELHASH, &raw).map_err(|e| Error::from_io(Op::Enable, e))
    }

    fn disable(&self) -> Result<(), Error> {
        set(self.as_fd(), SO_SOCKLEVELHASH, &uapi::QUEUES_OFF)
            .map_err(|e| Error::from_io(Op::Disable, e))
    }

    fn config(&self) -> Result<Option<Config>, Error> {
        let mut raw = SockLevelHash::default();
        let len = get(self.as_fd(), SO_SOCKLEVELHASH, &mut raw)
            .map_err(|e| Error::from_io(Op::ReadConfig, e))?;
        // A kernel from before the bounded wait writes the 16-byte struct: `max_wait_ms`
        // stays 0, the strict mode, which is what such a kernel does.
        if len != size_of::<SockLevelHash>() && len != uapi::CONFIG_STRUCT_LEN_V1 {
            return Err(Error::Malformed {
                op: Op::ReadConfig,
                detail: format!("{len} bytes instead of struct sock_level_hash"),
            });
        }
        Config::from_raw(raw, Op::ReadConfig)
    }

    fn queue_count(&self) -> Result<u32, Error> {
        queue_count(self.as_fd(), Op::ReadConfig)
    }

    fn register(&self, slot: Slot) -> Result<u32, Error> {
        let fd = self.as_fd();
        let raw = slot.to_raw()?;
        ensure_supported(fd, Op::Register)?;
        set(fd, SO_SOCKADDLSPH, &raw).map_err(|e| Error::from_io(Op::Register, e))?;
        // The kernel picked the queue for `Slot::Any`: ask which one.
        match read_slot(fd, Op::Register)? {
            Some(index) => Ok(index),
            None => Err(Error::Malformed {
                op: Op::Register,
                detail: "not registered right after registering (deregistered concurrently?)"
                    .into(),
            }),
        }
    }

    fn deregister(&self) -> Result<(), Error> {
        let fd = self.as_fd();
        ensure_supported(fd, Op::Deregister)?;
        set(fd, SO_SOCKADDLSPH, &uapi::SLOT_DEREGISTER)
            .map_err(|e| Error::from_io(Op::Deregister, e))
    }

    fn registered_slot(&self) -> Result<Option<u32>, Error> {
        let fd = self.as_fd();
        ensure_supported(fd, Op::ReadSlot)?;
        read_slot(fd, Op::ReadSlot)
    }

    fn info(&self) -> Result<Info, Error> {
        let fd = self.as_fd();
        ensure_supported(fd, Op::ReadInfo)?;
        info::read_info(|buf| get_bytes(fd, SO_SOCKLEVELHASH_INFO, buf))
    }
}

/// Fails with [`Error::Unsupported`] unless the kernel knows `SO_SOCKLEVELHASH`.
///
/// Why before the other two options: on stock kernels since 6.14 / 6.16 the numbers 82 and 83
/// are `SO_RCVPRIORITY` and `SO_PASSRIGHTS`, so "registering" would quietly set a receive
/// priority and reading the slot would return 0. Number 81 is no socket option there
/// (`ENOPROTOOPT`), so asking it first tells a kernel without the feature apart.
fn ensure_supported(fd: BorrowedFd<'_>, op: Op) -> Result<(), Error> {
    queue_count(fd, op).map(drop)
}

fn queue_count(fd: BorrowedFd<'_>, op: Op) -> Result<u32, Error> {
    let count = get_int(fd, SO_SOCKLEVELHASH, op)?;
    u32::try_from(count).map_err(|_| Error::Malformed {
        op,
        detail: format!("queue count {count} (never negative when read)"),
    })
}

fn read_slot(fd: BorrowedFd<'_>, op: Op) -> Result<Option<u32>, Error> {
    match get_int(fd, SO_SOCKADDLSPH, op)? {
        uapi::NOT_REGISTERED => Ok(None),
        index => u32::try_from(index)
            .map(Some)
            .map_err(|_| Error::Malformed {
                op,
                detail: format!("queue index {index}"),
            }),
    }
}

fn get_int(fd: BorrowedFd<'_>, name: libc::c_int, op: Op) -> Result<i32, Error> {
    let mut value = 0i32;
    let len = get(fd, name, &mut value).map_err(|e| Error::from_io(op, e))?;
    if len != size_of::<i32>() {
        return Err(Error::Malformed {
            op,
            detail: format!("{len} bytes instead of an int"),
        });
    }
    Ok(value)
}

fn set<T: Pod>(fd: BorrowedFd<'_>, name: libc::c_int, value: &T) -> io::Result<()> {
    let bytes = value.as_bytes();
    // SAFETY: `bytes` is a live buffer of `bytes.len()` bytes that the kernel only reads, and
    // `fd` is a descriptor borrowed for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_SOCKET,
            name,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt` into `value`; returns the length the kernel wrote.
fn get<T: Pod>(fd: BorrowedFd<'_>, name: libc::c_int, value: &mut T) -> io::Result<usize> {
    // SAFETY: `T: Pod` has no padding and accepts any bit pattern, so its bytes may be viewed
    // and overwritten as a byte slice for as long as `value` is mutably borrowed.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut((value as *mut T).cast::<u8>(), size_of::<T>()) };
    get_bytes(fd, name, bytes)
}

fn get_bytes(fd: BorrowedFd<'_>, name: libc::c_int, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `buf` is writable for `len` bytes, the kernel writes at most `len` bytes and
    // stores the written length in `len`; `fd` is borrowed for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_SOCKET,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(len as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_the_uapi_int() {
        assert_eq!(Slot::Any.to_raw().unwrap(), -1);
        assert_eq!(Slot::Index(0).to_raw().unwrap(), 0);
        assert_eq!(Slot::Index(1023).to_raw().unwrap(), 1023);
        // Would wrap to a negative int, i.e. to "any" or "deregister".
        let error = Slot::Index(u32::MAX - 1).to_raw().unwrap_err();
        assert!(matches!(error, Error::OutOfRange { .. }));
        assert_eq!(error.errno(), Some(libc::EINVAL));
    }
}
