// SPDX-License-Identifier: MIT OR Apache-2.0
//! Unit tests of the shim's hooks and helpers, called directly (the interposers are not
//! exported in the test binary); `tests/preload.rs` runs programs under the shared object.

use std::ffi::c_void;

use libc::{sigset_t, size_t};

use super::*;

/// True (after saying why) on a kernel with the socket-level hash: the hooks' tests below
/// rely on the kernel's refusal (ENOPROTOOPT) to leave the descriptors tracked.
fn skip_on_a_kernel_with_the_feature(test: &str) -> bool {
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: `probe` is open for the duration of the borrow.
    let socket = unsafe { BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&probe)) };
    let skip = socket.sock_level_hash_queues().is_ok();
    if skip {
        eprintln!(
            "SKIP {test}: this kernel has the socket-level hash; the test is about one without it"
        );
    }
    skip
}

#[test]
fn saved_errno_is_restored_on_drop() {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() = libc::EXDEV };
    {
        let _saved = SavedErrno::save();
        // A failing call in between, as the shim's getsockopt on a stock kernel.
        assert!(get_int(-1, libc::SO_TYPE).is_none());
        // SAFETY: as above.
        assert_eq!(unsafe { *libc::__errno_location() }, libc::EBADF);
    }
    // SAFETY: as above.
    assert_eq!(unsafe { *libc::__errno_location() }, libc::EXDEV);
}

#[test]
fn only_tcp_sockets_qualify() {
    use std::os::fd::AsRawFd;
    let tcp4 = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(is_tcp(tcp4.as_raw_fd()));
    assert_eq!(local_addr(tcp4.as_raw_fd()), tcp4.local_addr().ok());
    if let Ok(tcp6) = TcpListener::bind("[::1]:0") {
        assert!(is_tcp(tcp6.as_raw_fd()));
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(!is_tcp(udp.as_raw_fd()));
    let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(!is_tcp(unix.as_raw_fd()));
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    assert!(!is_tcp(file.as_raw_fd()));
    // SCTP stream sockets are SOCK_STREAM too; only when the kernel has SCTP.
    // SAFETY: socket(2) with constant arguments; closed right after.
    let sctp = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP) };
    if sctp >= 0 {
        assert!(!is_tcp(sctp));
        // SAFETY: our own descriptor.
        unsafe { libc::close(sctp) };
    }
}

/// `file` duplicated onto descriptor `number`, which this test binary uses for nothing else
/// (the hooks share the process-wide tracker).
fn pinned(file: &impl std::os::fd::AsRawFd, number: c_int) -> std::os::fd::OwnedFd {
    // SAFETY: dup2 onto a number no other test uses; the result is owned below.
    let fd = unsafe { libc::dup2(file.as_raw_fd(), number) };
    assert_eq!(fd, number, "dup2: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is the new descriptor, owned by nobody else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

fn set_errno(value: c_int) {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() = value };
}

fn errno() -> c_int {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() }
}

// The registration attempts themselves cannot succeed on the build host (no kernel
// support), but which descriptors the hooks pick, that they try once per process, and
// that errno survives are checked here with descriptors marked as enabled by hand.

#[test]
fn poll_hook_registers_on_enabled_descriptors_it_waits_on() {
    if skip_on_a_kernel_with_the_feature("poll_hook_registers_on_enabled_descriptors") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let waited = pinned(&listener, 900);
    let not_waited = pinned(&listener, 901);
    let untracked = pinned(&listener, 902);
    use std::os::fd::AsRawFd;
    TRACKER.enabled(waited.as_raw_fd());
    TRACKER.enabled(not_waited.as_raw_fd());
    let fds = [
        pollfd {
            fd: untracked.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        pollfd {
            fd: not_waited.as_raw_fd(),
            events: 0,
            revents: 0,
        },
        pollfd {
            fd: waited.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    set_errno(libc::EXDEV);
    // SAFETY: `fds` holds 3 entries.
    unsafe { before_poll(fds.as_ptr(), 3) };
    assert_eq!(
        errno(),
        libc::EXDEV,
        "errno must survive the registration attempt"
    );
    // Tried on the waited socket (claimed), not on the others.
    assert!(!TRACKER.claim_registration(900));
    assert!(TRACKER.claim_registration(901));
    assert!(!TRACKER.claim_registration(902), "never enabled");
    // The failure was ENOPROTOOPT: the socket stays tracked for the workers forked later.
    assert!(TRACKER.is_enabled(900));
    // __poll_chk scans only what the array's byte size covers.
    TRACKER.enabled(903);
    let _fourth = pinned(&listener, 903);
    let fds = [
        pollfd {
            fd: 902,
            events: libc::POLLIN,
            revents: 0,
        },
        pollfd {
            fd: 903,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: one entry is read.
    unsafe { before_poll(fds.as_ptr(), 1) };
    assert!(TRACKER.claim_registration(903), "outside the scanned part");
}

#[test]
fn select_hook_registers_on_enabled_descriptors_in_the_read_set() {
    if skip_on_a_kernel_with_the_feature("select_hook_registers_on_enabled_descriptors") {
        return;
    }
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let in_set = pinned(&listener, 910);
    let not_in_set = pinned(&listener, 911);
    let beyond_nfds = pinned(&listener, 912);
    for fd in [&in_set, &not_in_set, &beyond_nfds] {
        TRACKER.enabled(fd.as_raw_fd());
    }
    // SAFETY: an all-zero fd_set is the empty set.
    let mut readfds: fd_set = unsafe { std::mem::zeroed() };
    // SAFETY: descriptors below FD_SETSIZE, into a valid fd_set.
    unsafe {
        libc::FD_SET(910, &mut readfds);
        libc::FD_SET(912, &mut readfds);
    }
    set_errno(libc::EXDEV);
    // SAFETY: `readfds` is a valid fd_set.
    unsafe { before_select(912, &readfds) };
    assert_eq!(errno(), libc::EXDEV);
    assert!(!TRACKER.claim_registration(910));
    assert!(TRACKER.claim_registration(911));
    assert!(
        TRACKER.claim_registration(912),
        "at or above nfds: not waited on"
    );
    // SAFETY: a null read set is allowed and means nothing is waited on for reading.
    unsafe { before_select(1024, std::ptr::null()) };
}

#[test]
fn a_reused_descriptor_number_is_forgotten() {
    // The listen socket was closed and the number now names a file: the kernel answers
    // ENOTSOCK, and the shim stops treating the number as a listen socket.
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    let reused = pinned(&file, 920);
    use std::os::fd::AsRawFd;
    TRACKER.enabled(reused.as_raw_fd());
    set_errno(0);
    before_accepting(920, Use::Accept);
    assert_eq!(errno(), 0);
    assert!(!TRACKER.is_enabled(920));
}

#[test]
fn real_functions_resolve_to_libc() {
    let real = real!(listen: fn(c_int, c_int) -> c_int).expect("libc listen");
    // SAFETY: listen on an invalid descriptor only fails.
    assert_eq!(unsafe { real(-1, 1) }, -1);
    assert!(real!(__poll_chk: fn(*mut pollfd, nfds_t, c_int, size_t) -> c_int).is_some());
    assert!(real!(pselect: fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *const timespec, *const sigset_t) -> c_int).is_some());
}
