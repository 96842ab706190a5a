// SPDX-License-Identifier: GPL-2.0
//! The library against the running kernel. `cargo test` runs on the build host, a stock kernel
//! without the socket-level hash: every operation must say so with `Error::Unsupported`, and
//! none may be mistaken for success (on kernels since 6.14 the numbers 82 and 83 are other
//! options). The round trip on a kernel with the feature belongs to the qemu-tests, with the
//! kernel half of the feature.

use std::io;
use std::mem::size_of;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use slh::uapi::{SOL_SOCKET, SO_SOCKADDLSPH, SO_SOCKLEVELHASH};
use slh::{Config, Error, HashFn, HashInput, MaxWait, Op, Queues, Slot, SocketLevelHash};

fn raw_get_int(fd: i32, name: i32) -> io::Result<i32> {
    let mut value = 0i32;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` is a writable int of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            SOL_SOCKET,
            name,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1")
}

fn assert_stock_kernel(socket: &impl AsRawFd) {
    let probe = raw_get_int(socket.as_raw_fd(), SO_SOCKLEVELHASH);
    assert_eq!(
        probe.as_ref().map_err(|e| e.raw_os_error()),
        Err(Some(libc::ENOPROTOOPT)),
        "these tests expect a kernel without the socket-level hash (getsockopt 81 answered {probe:?}); \
         on a kernel with it the qemu-tests exercise the library"
    );
}

fn assert_unsupported<T: std::fmt::Debug>(result: Result<T, Error>, op: Op) {
    match result {
        Err(error @ Error::Unsupported { .. }) => {
            assert_eq!(error.op(), op);
            assert_eq!(error.errno(), Some(libc::ENOPROTOOPT));
            assert!(
                error.to_string().contains("no socket-level hash"),
                "{error}"
            );
        }
        other => panic!("{op:?} on a stock kernel: expected Unsupported, got {other:?}"),
    }
}

#[test]
fn every_operation_reports_unsupported_on_a_stock_kernel() {
    let socket = listener();
    assert_stock_kernel(&socket);
    assert_unsupported(
        socket.enable(Queues::Count(4), HashFn::Toeplitz),
        Op::Enable,
    );
    assert_unsupported(socket.enable(Queues::PerCpu, HashFn::Crc16), Op::Enable);
    assert_unsupported(
        socket.enable_with(Config {
            queues: Queues::Count(1024),
            hash: HashFn::XorFoldSrcDst,
            input: HashInput::FourTuple,
            max_wait: MaxWait::Strict,
        }),
        Op::Enable,
    );
    assert_unsupported(
        socket.enable_with(
            Config::new(Queues::Count(2), HashFn::Toeplitz).with_max_wait(MaxWait::Millis(60_000)),
        ),
        Op::Enable,
    );
    assert_unsupported(socket.disable(), Op::Disable);
    assert_unsupported(socket.config(), Op::ReadConfig);
    assert_unsupported(socket.queue_count(), Op::ReadConfig);
    assert_unsupported(socket.register(Slot::Any), Op::Register);
    assert_unsupported(socket.register(Slot::Index(0)), Op::Register);
    assert_unsupported(socket.registered_slot(), Op::ReadSlot);
    assert_unsupported(socket.deregister(), Op::Deregister);
    assert_unsupported(socket.info(), Op::ReadInfo);
}

#[test]
fn registering_does_not_touch_what_option_82_is_on_newer_stock_kernels() {
    let socket = listener();
    assert_stock_kernel(&socket);
    // Since Linux 6.14, 82 is SO_RCVPRIORITY: a library that set it blindly would "succeed".
    let before = raw_get_int(socket.as_raw_fd(), SO_SOCKADDLSPH).ok();
    assert!(socket.register(Slot::Index(7)).is_err());
    assert!(socket.deregister().is_err());
    assert_eq!(raw_get_int(socket.as_raw_fd(), SO_SOCKADDLSPH).ok(), before);
}

#[test]
fn works_on_raw_descriptors_and_unlistened_sockets() {
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    assert_stock_kernel(&owned);
    // SAFETY: `owned` keeps the descriptor open for the borrow's lifetime.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    assert_unsupported(
        borrowed.enable(Queues::Count(2), HashFn::SrcIpMod),
        Op::Enable,
    );
    assert_unsupported(owned.info(), Op::ReadInfo);
}

#[test]
fn values_the_uapi_cannot_express_are_refused_before_the_call() {
    let socket = listener();
    for queues in [0, 1025] {
        match socket.enable(Queues::Count(queues), HashFn::Toeplitz) {
            Err(Error::OutOfRange {
                op: Op::Enable,
                value,
                ..
            }) => assert_eq!(value, i64::from(queues)),
            other => panic!("{queues} queues: {other:?}"),
        }
    }
    for max_wait in [0, 60_001] {
        let config = Config::new(Queues::Count(4), HashFn::Toeplitz)
            .with_max_wait(MaxWait::Millis(max_wait));
        match socket.enable_with(config) {
            Err(Error::OutOfRange {
                op: Op::Enable,
                value,
                ..
            }) => assert_eq!(value, i64::from(max_wait)),
            other => panic!("max wait {max_wait} ms: {other:?}"),
        }
    }
    assert!(matches!(
        socket.register(Slot::Index(1 << 31)),
        Err(Error::OutOfRange {
            op: Op::Register,
            ..
        })
    ));
}

#[test]
fn a_closed_descriptor_passes_ebadf_through() {
    // Far above any descriptor this test binary opens (its threads open and close sockets
    // concurrently, so a just-closed number could be reused under us).
    // SAFETY: nothing is open at this number; the kernel answers EBADF and touches nothing.
    let closed = unsafe { BorrowedFd::borrow_raw(999_999) };
    match closed.config() {
        Err(Error::Io {
            op: Op::ReadConfig,
            source,
        }) => assert_eq!(source.raw_os_error(), Some(libc::EBADF)),
        other => panic!("{other:?}"),
    }
}
