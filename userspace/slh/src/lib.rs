// SPDX-License-Identifier: MIT OR Apache-2.0
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
//! listener.enable_sock_level_hash("16".parse::<Queues>()?, HashFn::Toeplitz)?;
//! // ... fork the workers; in each:
//! let queue = listener.register_sock_level_hash(Slot::Any)?;
//! println!("worker registered to queue {queue}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`SocketLevelHash`] is implemented for the types that can be TCP listeners:
//! [`std::net::TcpListener`] and [`BorrowedFd`] (any other descriptor, through
//! [`AsFd::as_fd`] or [`BorrowedFd::borrow_raw`]), with the
//! `socket2` feature `socket2::Socket`, and with the `tokio` feature tokio's `TcpListener` and
//! `TcpSocket`. Its methods carry the option's name, as socket2's do,
//! so that they cannot be mistaken for (or collide with) another trait's `enable` or `info`.
//!
//! Linux only: the options exist in a patched Linux kernel and nowhere else.

#![deny(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!("slh: the socket-level hash is a Linux socket option; this target is not Linux");

pub mod config;
pub mod error;
pub mod info;
mod sys;
pub mod uapi;

use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd};

pub use config::{Config, MaxWait, ParseError, ParseErrorKind, QueueCount, Queues};
pub use error::{Error, Op};
pub use info::{Info, QueueStats};
/// The hash functions and inputs are the kernel module's own types, shared through the pure
/// core crate so that their uapi numbers exist in one place.
pub use sock_level_hash_core::hash::{HashFn, HashInput};

use sys::{get, get_bytes, set};
use uapi::{SockLevelHash, SO_SOCKADDLSPH, SO_SOCKLEVELHASH, SO_SOCKLEVELHASH_INFO};

/// Which queue [`SocketLevelHash::register_sock_level_hash`] asks for.
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

mod sealed {
    use std::os::fd::BorrowedFd;

    /// The types [`super::SocketLevelHash`] is implemented for; not implementable outside the
    /// crate, so that the trait's methods appear on TCP socket types only (not on files, pipes
    /// or UDP sockets, which every `AsFd` gave them before).
    pub trait Socket {
        fn socket_fd(&self) -> BorrowedFd<'_>;
    }
}

/// The socket-level hash operations on a TCP socket (before `listen()` or listening).
///
/// Implemented for [`std::net::TcpListener`], [`BorrowedFd`] (which any descriptor gives with
/// `as_fd()`), with the `socket2` feature `socket2::Socket`, with the `tokio` feature
/// `tokio::net::TcpListener` and `tokio::net::TcpSocket`; sealed.
///
/// A file or a UDP socket has none of the methods:
///
/// ```compile_fail
/// use slh::SocketLevelHash;
/// let file = std::fs::File::open("/dev/null").unwrap();
/// let _ = file.sock_level_hash_queues();
/// ```
///
/// ```compile_fail
/// use slh::SocketLevelHash;
/// let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let _ = udp.sock_level_hash_queues();
/// ```
///
/// and nothing outside the crate can implement the trait:
///
/// ```compile_fail
/// struct Mine;
/// impl slh::SocketLevelHash for Mine {}
/// ```
pub trait SocketLevelHash: sealed::Socket {
    /// Enables the option with `queues` queues and `hash` over the client address (the input
    /// that keeps each client on one worker), with the default wait ([`MaxWait::DEFAULT`]).
    /// Works before `listen()` or on a listening socket.
    fn enable_sock_level_hash(&self, queues: Queues, hash: HashFn) -> Result<(), Error> {
        self.set_sock_level_hash(Config::new(queues, hash))
    }

    /// Enables the option with a full configuration (any hash input, any [`MaxWait`]), or
    /// changes it.
    fn set_sock_level_hash(&self, config: Config) -> Result<(), Error> {
        let raw = config.to_raw(Op::Enable)?;
        set(self.socket_fd(), SO_SOCKLEVELHASH, &raw).map_err(|e| Error::from_io(Op::Enable, e))
    }

    /// Turns the option off: every waiting connection moves to the normal queue and every
    /// registration ends.
    fn disable_sock_level_hash(&self) -> Result<(), Error> {
        set(self.socket_fd(), SO_SOCKLEVELHASH, &uapi::QUEUES_OFF)
            .map_err(|e| Error::from_io(Op::Disable, e))
    }

    /// The current configuration, with the resolved queue count and the wait; `None` when off.
    fn sock_level_hash(&self) -> Result<Option<Config>, Error> {
        let mut raw = SockLevelHash::default();
        let len = get(self.socket_fd(), SO_SOCKLEVELHASH, &mut raw)
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

    /// The queue count (0 when off). Also the cheapest probe for kernel support.
    fn sock_level_hash_queues(&self) -> Result<u32, Error> {
        queue_count(self.socket_fd(), Op::ReadConfig)
    }

    /// Registers the calling process (thread group) and returns the queue it got.
    fn register_sock_level_hash(&self, slot: Slot) -> Result<u32, Error> {
        let fd = self.socket_fd();
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

    /// Deregisters the calling process; its waiting connections move to other queues.
    fn deregister_sock_level_hash(&self) -> Result<(), Error> {
        let fd = self.socket_fd();
        ensure_supported(fd, Op::Deregister)?;
        set(fd, SO_SOCKADDLSPH, &uapi::SLOT_DEREGISTER)
            .map_err(|e| Error::from_io(Op::Deregister, e))
    }

    /// The calling process's queue, `None` when it is not registered.
    fn sock_level_hash_slot(&self) -> Result<Option<u32>, Error> {
        let fd = self.socket_fd();
        ensure_supported(fd, Op::ReadSlot)?;
        read_slot(fd, Op::ReadSlot)
    }

    /// The queues' owners and counters.
    fn sock_level_hash_info(&self) -> Result<Info, Error> {
        let fd = self.socket_fd();
        ensure_supported(fd, Op::ReadInfo)?;
        info::read_info(|buf| get_bytes(fd, SO_SOCKLEVELHASH_INFO, buf))
    }
}

impl sealed::Socket for std::net::TcpListener {
    fn socket_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}
impl SocketLevelHash for std::net::TcpListener {}

impl sealed::Socket for BorrowedFd<'_> {
    fn socket_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}
impl SocketLevelHash for BorrowedFd<'_> {}

#[cfg(feature = "socket2")]
impl sealed::Socket for socket2::Socket {
    fn socket_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}
#[cfg(feature = "socket2")]
impl SocketLevelHash for socket2::Socket {}

#[cfg(feature = "tokio")]
impl sealed::Socket for tokio::net::TcpListener {
    fn socket_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}
#[cfg(feature = "tokio")]
impl SocketLevelHash for tokio::net::TcpListener {}

#[cfg(feature = "tokio")]
impl sealed::Socket for tokio::net::TcpSocket {
    fn socket_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}
#[cfg(feature = "tokio")]
impl SocketLevelHash for tokio::net::TcpSocket {}

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

    /// What the feature-gated implementations answer: the same as a std listener's socket.
    #[cfg(any(feature = "socket2", feature = "tokio"))]
    fn same_answer_as_std(answer: Result<u32, Error>) {
        let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        match (answer, std.sock_level_hash_queues()) {
            (Ok(n), Ok(_)) => assert_eq!(n, 0),
            (Err(a), Err(b)) => assert_eq!(a.errno(), b.errno()),
            (a, b) => panic!("{a:?} vs {b:?}"),
        }
    }

    #[cfg(feature = "socket2")]
    #[test]
    fn socket2_sockets_have_the_options() {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        same_answer_as_std(socket.sock_level_hash_queues());
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn tokio_sockets_have_the_options() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        same_answer_as_std(socket.sock_level_hash_queues());
    }
}
