// SPDX-License-Identifier: MIT OR Apache-2.0
//! The library against the running kernel.
//!
//! On a stock kernel (the build host) every operation must say so with `Error::Unsupported`,
//! and none may be mistaken for success (on kernels since 6.14 the numbers 82 and 83 are other
//! options). On a kernel with the socket-level hash (a deployed host) those tests skip, and the
//! round trip runs instead; the qemu-tests hold the kernel half to the rest.

use std::io;
use std::mem::size_of;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

fn queues(n: u32) -> Queues {
    Queues::count(n).expect("a valid queue count")
}

/// Whether the running kernel has the socket-level hash (`getsockopt(81)` answers).
fn kernel_has_the_feature(socket: &impl AsRawFd) -> bool {
    match raw_get_int(socket.as_raw_fd(), SO_SOCKLEVELHASH) {
        Ok(_) => true,
        Err(error) if error.raw_os_error() == Some(libc::ENOPROTOOPT) => false,
        Err(error) => panic!("getsockopt(SO_SOCKLEVELHASH) on a TCP socket: {error}"),
    }
}

/// True (after saying why the test is skipped) on a kernel with the feature: the test is about
/// a kernel without it.
fn skip_unless_stock_kernel(socket: &impl AsRawFd, test: &str) -> bool {
    let skip = kernel_has_the_feature(socket);
    if skip {
        eprintln!(
            "SKIP {test}: this kernel has the socket-level hash (getsockopt 81 answers); \
             the test is about a kernel without it"
        );
    }
    skip
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
            let io: io::Error = error.into();
            assert_eq!(io.raw_os_error(), Some(libc::ENOPROTOOPT));
        }
        other => panic!("{op:?} on a stock kernel: expected Unsupported, got {other:?}"),
    }
}

#[test]
fn every_operation_reports_unsupported_on_a_stock_kernel() {
    let socket = listener();
    if skip_unless_stock_kernel(
        &socket,
        "every_operation_reports_unsupported_on_a_stock_kernel",
    ) {
        return;
    }
    assert_unsupported(
        socket.enable_sock_level_hash(queues(4), HashFn::Toeplitz),
        Op::Enable,
    );
    assert_unsupported(
        socket.enable_sock_level_hash(Queues::PerCpu, HashFn::Crc16),
        Op::Enable,
    );
    assert_unsupported(
        socket.set_sock_level_hash(
            Config::new(queues(1024), HashFn::XorFoldSrcDst)
                .with_input(HashInput::FourTuple)
                .with_max_wait(MaxWait::Strict),
        ),
        Op::Enable,
    );
    assert_unsupported(
        socket.set_sock_level_hash(
            Config::new(queues(2), HashFn::Toeplitz).with_max_wait(MaxWait::Millis(60_000)),
        ),
        Op::Enable,
    );
    assert_unsupported(socket.disable_sock_level_hash(), Op::Disable);
    assert_unsupported(socket.sock_level_hash(), Op::ReadConfig);
    assert_unsupported(socket.sock_level_hash_queues(), Op::ReadConfig);
    assert_unsupported(socket.register_sock_level_hash(Slot::Any), Op::Register);
    assert_unsupported(
        socket.register_sock_level_hash(Slot::Index(0)),
        Op::Register,
    );
    assert_unsupported(socket.sock_level_hash_slot(), Op::ReadSlot);
    assert_unsupported(socket.deregister_sock_level_hash(), Op::Deregister);
    assert_unsupported(socket.sock_level_hash_info(), Op::ReadInfo);
}

#[test]
fn registering_does_not_touch_what_option_82_is_on_newer_stock_kernels() {
    let socket = listener();
    if skip_unless_stock_kernel(&socket, "registering_does_not_touch_option_82") {
        return;
    }
    // Since Linux 6.14, 82 is SO_RCVPRIORITY: a library that set it blindly would "succeed".
    let before = raw_get_int(socket.as_raw_fd(), SO_SOCKADDLSPH).ok();
    assert!(socket.register_sock_level_hash(Slot::Index(7)).is_err());
    assert!(socket.deregister_sock_level_hash().is_err());
    assert_eq!(raw_get_int(socket.as_raw_fd(), SO_SOCKADDLSPH).ok(), before);
}

#[test]
fn works_on_raw_descriptors_and_unlistened_sockets() {
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if skip_unless_stock_kernel(&owned, "works_on_raw_descriptors_and_unlistened_sockets") {
        return;
    }
    // SAFETY: `owned` keeps the descriptor open for the borrow's lifetime.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    assert_unsupported(
        borrowed.enable_sock_level_hash(queues(2), HashFn::SrcIpMod),
        Op::Enable,
    );
    assert_unsupported(owned.as_fd().sock_level_hash_info(), Op::ReadInfo);
}

#[test]
fn values_the_uapi_cannot_express_are_refused_before_the_call() {
    // Whatever the kernel: nothing reaches it.
    let socket = listener();
    for max_wait in [0, 60_001] {
        let config =
            Config::new(queues(4), HashFn::Toeplitz).with_max_wait(MaxWait::Millis(max_wait));
        match socket.set_sock_level_hash(config) {
            Err(Error::OutOfRange {
                op: Op::Enable,
                value,
                ..
            }) => assert_eq!(value, i64::from(max_wait)),
            other => panic!("max wait {max_wait} ms: {other:?}"),
        }
    }
    assert!(matches!(
        socket.register_sock_level_hash(Slot::Index(1 << 31)),
        Err(Error::OutOfRange {
            op: Op::Register,
            ..
        })
    ));
    // A queue count of 0 ("off") or above 1024 cannot even be built.
    assert_eq!(Queues::count(0), None);
    assert_eq!(Queues::count(1025), None);
}

#[test]
fn a_closed_descriptor_passes_ebadf_through() {
    // Far above any descriptor this test binary opens (its threads open and close sockets
    // concurrently, so a just-closed number could be reused under us).
    // SAFETY: nothing is open at this number; the kernel answers EBADF and touches nothing.
    let closed = unsafe { BorrowedFd::borrow_raw(999_999) };
    match closed.sock_level_hash() {
        Err(Error::Io {
            op: Op::ReadConfig,
            source,
        }) => assert_eq!(source.raw_os_error(), Some(libc::EBADF)),
        other => panic!("{other:?}"),
    }
    let error: io::Error = closed.sock_level_hash_queues().unwrap_err().into();
    assert_eq!(error.raw_os_error(), Some(libc::EBADF));
}

/// The round trip on a kernel with the feature (a deployed host; skipped on the build host).
#[test]
fn round_trip_on_a_kernel_with_the_feature() {
    let socket = listener();
    if !kernel_has_the_feature(&socket) {
        eprintln!(
            "SKIP round_trip_on_a_kernel_with_the_feature: this kernel has no socket-level hash \
             (getsockopt 81 answers ENOPROTOOPT); the qemu-tests run it on the patched kernel"
        );
        return;
    }
    assert_eq!(socket.sock_level_hash().unwrap(), None);
    assert_eq!(socket.sock_level_hash_queues().unwrap(), 0);
    let config = Config::new(queues(4), HashFn::Crc16)
        .with_input(HashInput::ClientAddr)
        .with_max_wait(MaxWait::Millis(150));
    socket.set_sock_level_hash(config).unwrap();
    assert_eq!(socket.sock_level_hash().unwrap(), Some(config));
    assert_eq!(socket.sock_level_hash_queues().unwrap(), 4);
    assert_eq!(socket.sock_level_hash_slot().unwrap(), None);
    let queue = socket.register_sock_level_hash(Slot::Any).unwrap();
    assert!(queue < 4);
    assert_eq!(socket.sock_level_hash_slot().unwrap(), Some(queue));
    let info = socket.sock_level_hash_info().unwrap();
    assert_eq!(
        (info.queues, info.hash, info.registered),
        (4, HashFn::Crc16, 1)
    );
    assert!(info.is_complete());
    let me = std::process::id();
    assert_eq!(info.queue_stats[queue as usize].owner_pid, Some(me));
    assert_eq!(info.queue_stats[queue as usize].buckets, 256);
    socket.deregister_sock_level_hash().unwrap();
    assert_eq!(socket.sock_level_hash_slot().unwrap(), None);
    socket.disable_sock_level_hash().unwrap();
    assert_eq!(socket.sock_level_hash().unwrap(), None);
}
