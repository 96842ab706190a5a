// SPDX-License-Identifier: MIT OR Apache-2.0
//! Typed errors: each errno the uapi gives a meaning is one variant, with a message saying what
//! went wrong for the operation that got it.

use std::fmt;
use std::io;

use crate::uapi::MAX_QUEUES;

/// The operation that failed, so that one errno can be explained in its context (`EBUSY`
/// means something else when enabling than when registering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Enable,
    Disable,
    ReadConfig,
    Register,
    Deregister,
    ReadSlot,
    ReadInfo,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Enable => "enabling SO_SOCKLEVELHASH",
            Op::Disable => "disabling SO_SOCKLEVELHASH",
            Op::ReadConfig => "reading SO_SOCKLEVELHASH",
            Op::Register => "registering with SO_SOCKADDLSPH",
            Op::Deregister => "deregistering with SO_SOCKADDLSPH",
            Op::ReadSlot => "reading SO_SOCKADDLSPH",
            Op::ReadInfo => "reading SO_SOCKLEVELHASH_INFO",
        })
    }
}

/// Why a socket-level hash operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `ENOPROTOOPT`: the kernel has no socket-level hash (stock kernel, module not loaded).
    Unsupported { op: Op },
    /// `EBUSY`: changing the queue count while processes are registered, or registering to a
    /// queue another live process owns.
    Busy { op: Op },
    /// `ENOSPC`: every queue has an owner (more processes than queues).
    NoFreeQueue { op: Op },
    /// `EINVAL`: the kernel refused a value (queue count, hash, input, flags, max wait, index,
    /// length).
    Invalid { op: Op },
    /// `EOPNOTSUPP`: not a TCP stream socket, or a state the operation does not apply to
    /// (e.g. registering on a socket without the option).
    NotApplicable { op: Op },
    /// A value refused before asking the kernel, because the uapi cannot express it.
    OutOfRange {
        op: Op,
        what: &'static str,
        value: i64,
        allowed: &'static str,
    },
    /// The kernel answered, but not in the uapi's format (e.g. an older layout).
    Malformed { op: Op, detail: String },
    /// Any other errno, passed through.
    Io { op: Op, source: io::Error },
}

impl Error {
    /// Classifies the errno of a failed `setsockopt`/`getsockopt`.
    pub fn from_io(op: Op, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ENOPROTOOPT) => Error::Unsupported { op },
            Some(libc::EBUSY) => Error::Busy { op },
            Some(libc::ENOSPC) => Error::NoFreeQueue { op },
            Some(libc::EINVAL) => Error::Invalid { op },
            Some(libc::EOPNOTSUPP) => Error::NotApplicable { op },
            _ => Error::Io { op, source },
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            Error::Unsupported { op }
            | Error::Busy { op }
            | Error::NoFreeQueue { op }
            | Error::Invalid { op }
            | Error::NotApplicable { op }
            | Error::OutOfRange { op, .. }
            | Error::Malformed { op, .. }
            | Error::Io { op, .. } => *op,
        }
    }

    /// The errno behind the error, if the kernel gave one (`EINVAL` for [`Error::OutOfRange`],
    /// which the kernel would have answered with; `None` for [`Error::Malformed`]).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Unsupported { .. } => Some(libc::ENOPROTOOPT),
            Error::Busy { .. } => Some(libc::EBUSY),
            Error::NoFreeQueue { .. } => Some(libc::ENOSPC),
            Error::Invalid { .. } | Error::OutOfRange { .. } => Some(libc::EINVAL),
            Error::NotApplicable { .. } => Some(libc::EOPNOTSUPP),
            Error::Malformed { .. } => None,
            Error::Io { source, .. } => source.raw_os_error(),
        }
    }

    /// Whether the kernel lacks the feature altogether.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.op();
        match self {
            Error::Unsupported { .. } => write!(
                f,
                "{op}: this kernel has no socket-level hash (ENOPROTOOPT): \
                 the sock_level_hash module is not loaded or the kernel lacks the patches"
            ),
            Error::Busy { .. } => match op {
                Op::Register => write!(
                    f,
                    "{op}: the queue is owned by another live process (EBUSY)"
                ),
                Op::Enable | Op::Disable => write!(
                    f,
                    "{op}: cannot change the queue count while processes are registered (EBUSY)"
                ),
                _ => write!(f, "{op}: busy (EBUSY)"),
            },
            Error::NoFreeQueue { .. } => write!(
                f,
                "{op}: no free queue, there are more processes than queues (ENOSPC)"
            ),
            Error::Invalid { .. } => match op {
                Op::Enable => write!(
                    f,
                    "{op}: invalid value: queue count outside -1..={MAX_QUEUES}, unknown hash or \
                     input, nonzero flags, or max wait above 60000 ms (a kernel without the \
                     bounded wait refuses any but 0) (EINVAL)"
                ),
                Op::Register => write!(f, "{op}: invalid queue index (EINVAL)"),
                Op::ReadInfo => write!(f, "{op}: buffer too short (EINVAL)"),
                _ => write!(f, "{op}: invalid argument (EINVAL)"),
            },
            Error::NotApplicable { .. } => match op {
                Op::Enable | Op::Disable | Op::ReadConfig => write!(
                    f,
                    "{op}: not a TCP stream socket, or not in a state the option applies to \
                     (EOPNOTSUPP)"
                ),
                _ => write!(
                    f,
                    "{op}: the socket does not have SO_SOCKLEVELHASH enabled, or is not a \
                     TCP stream socket (EOPNOTSUPP)"
                ),
            },
            Error::OutOfRange {
                what,
                value,
                allowed,
                ..
            } => write!(f, "{op}: {what} {value} is out of range ({allowed})"),
            Error::Malformed { detail, .. } => {
                write!(f, "{op}: unexpected answer from the kernel: {detail}")
            }
            Error::Io { source, .. } => write!(f, "{op}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// An [`io::Error`] that keeps the kernel's errno: `raw_os_error()` is the errno of every
/// variant the kernel answered ([`Error::errno`]), so code that matches on errno values (or
/// passes them on, as the preload shim does) sees what the kernel said. The operation's context
/// is in the [`Error`]'s message only: keep the [`Error`] where the message matters. A value
/// refused before the call ([`Error::OutOfRange`], `InvalidInput`) and an answer in an unknown
/// format ([`Error::Malformed`], `InvalidData`) have no errno and carry the [`Error`] itself.
impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        match error {
            Error::Io { source, .. } => source,
            Error::OutOfRange { .. } => io::Error::new(io::ErrorKind::InvalidInput, error),
            Error::Malformed { .. } => io::Error::new(io::ErrorKind::InvalidData, error),
            kernel => match kernel.errno() {
                Some(errno) => io::Error::from_raw_os_error(errno),
                None => io::Error::other(kernel),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn each_uapi_errno_has_its_variant() {
        let op = Op::Register;
        assert!(matches!(
            Error::from_io(op, os(libc::ENOPROTOOPT)),
            Error::Unsupported { op: Op::Register }
        ));
        assert!(matches!(
            Error::from_io(op, os(libc::EBUSY)),
            Error::Busy { .. }
        ));
        assert!(matches!(
            Error::from_io(op, os(libc::ENOSPC)),
            Error::NoFreeQueue { .. }
        ));
        assert!(matches!(
            Error::from_io(op, os(libc::EINVAL)),
            Error::Invalid { .. }
        ));
        assert!(matches!(
            Error::from_io(op, os(libc::EOPNOTSUPP)),
            Error::NotApplicable { .. }
        ));
        // ENOTSUP is the same number on Linux; the kernel returns either name.
        assert!(matches!(
            Error::from_io(op, os(libc::ENOTSUP)),
            Error::NotApplicable { .. }
        ));
        match Error::from_io(op, os(libc::EBADF)) {
            Error::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(libc::EBADF)),
            other => panic!("EBADF must pass through, got {other:?}"),
        }
        // A non-OS error (no errno) passes through too.
        assert!(matches!(
            Error::from_io(op, io::Error::other("x")),
            Error::Io { .. }
        ));
    }

    #[test]
    fn errno_round_trips() {
        for errno in [
            libc::ENOPROTOOPT,
            libc::EBUSY,
            libc::ENOSPC,
            libc::EINVAL,
            libc::EOPNOTSUPP,
            libc::EPERM,
        ] {
            assert_eq!(Error::from_io(Op::Enable, os(errno)).errno(), Some(errno));
        }
    }

    #[test]
    fn messages_name_the_problem_in_context() {
        let msg = |op, errno| Error::from_io(op, os(errno)).to_string();
        let unsupported = msg(Op::Enable, libc::ENOPROTOOPT);
        assert!(unsupported.starts_with("enabling SO_SOCKLEVELHASH: "));
        assert!(unsupported.contains("no socket-level hash"));
        assert!(msg(Op::Register, libc::EBUSY).contains("owned by another live process"));
        assert!(msg(Op::Enable, libc::EBUSY).contains("while processes are registered"));
        assert!(msg(Op::Register, libc::ENOSPC).contains("more processes than queues"));
        assert!(msg(Op::Enable, libc::EINVAL).contains("queue count outside -1..=1024"));
        assert!(msg(Op::Enable, libc::EINVAL).contains("max wait above 60000 ms"));
        assert!(msg(Op::Register, libc::EINVAL).contains("invalid queue index"));
        assert!(msg(Op::Register, libc::EOPNOTSUPP).contains("does not have SO_SOCKLEVELHASH"));
        assert!(msg(Op::Enable, libc::EOPNOTSUPP).contains("not a TCP stream socket"));
        assert!(msg(Op::ReadInfo, libc::EBADF).starts_with("reading SO_SOCKLEVELHASH_INFO: "));
    }

    #[test]
    fn converts_to_io_error_keeping_the_errno() {
        for errno in [
            libc::ENOPROTOOPT,
            libc::EBUSY,
            libc::ENOSPC,
            libc::EINVAL,
            libc::EOPNOTSUPP,
            libc::EPERM,
            libc::EBADF,
        ] {
            let error: io::Error = Error::from_io(Op::Register, os(errno)).into();
            assert_eq!(error.raw_os_error(), Some(errno), "{error}");
            assert_eq!(error.kind(), os(errno).kind(), "{error}");
        }
        let error: io::Error = Error::from_io(Op::Register, os(libc::ENOSPC)).into();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        // Refused before the call: no errno, the message and the typed error are kept.
        let refused: io::Error = Error::OutOfRange {
            op: Op::Enable,
            what: "queue count",
            value: 0,
            allowed: "1..=1024",
        }
        .into();
        assert_eq!(refused.raw_os_error(), None);
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        assert!(refused.to_string().contains("queue count 0"), "{refused}");
        assert!(refused.get_ref().unwrap().is::<Error>());
        let malformed: io::Error = Error::Malformed {
            op: Op::ReadInfo,
            detail: "x".into(),
        }
        .into();
        assert_eq!(malformed.raw_os_error(), None);
        assert_eq!(malformed.kind(), io::ErrorKind::InvalidData);
    }
}
