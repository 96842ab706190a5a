// SPDX-License-Identifier: MIT OR Apache-2.0
//! The exported libc functions: each finds libc's own with `real!`, runs the shim's hook
//! before or after it, and returns its result and errno unchanged.
//!
//! In the crate's unit tests they are not exported (`no_mangle` only outside tests), so the
//! test binary keeps libc's functions.

use std::ffi::{c_int, c_void};

use libc::{
    epoll_event, fd_set, nfds_t, pollfd, sigset_t, size_t, sockaddr, socklen_t, timespec, timeval,
};

use crate::{
    after_listen, before_accepting, before_close, before_poll, before_select, no_such_function,
    probe_inherited, SavedErrno, Use, TRACKER,
};

/// # Safety
/// As listen(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    let Some(real) = real!(listen: fn(c_int, c_int) -> c_int) else {
        return no_such_function();
    };
    // SAFETY: the program's arguments, passed on unchanged.
    let rc = unsafe { real(fd, backlog) };
    if rc == 0 {
        let _errno = SavedErrno::save();
        after_listen(fd);
    }
    rc
}

/// # Safety
/// As accept(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(real) = real!(accept: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int) else {
        return no_such_function();
    };
    probe_inherited(fd);
    before_accepting(fd, Use::Accept);
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(fd, addr, len) }
}

/// # Safety
/// As accept4(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let Some(real) = real!(accept4: fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int)
    else {
        return no_such_function();
    };
    probe_inherited(fd);
    before_accepting(fd, Use::Accept);
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(fd, addr, len, flags) }
}

/// # Safety
/// As epoll_ctl(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> c_int {
    let Some(real) = real!(epoll_ctl: fn(c_int, c_int, c_int, *mut epoll_event) -> c_int) else {
        return no_such_function();
    };
    if op == libc::EPOLL_CTL_ADD || op == libc::EPOLL_CTL_MOD {
        probe_inherited(fd);
        before_accepting(fd, Use::Wait);
    }
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(epfd, op, fd, event) }
}

/// # Safety
/// As close(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let Some(real) = real!(close: fn(c_int) -> c_int) else {
        return no_such_function();
    };
    before_close(fd);
    // SAFETY: the program's argument, passed on unchanged.
    unsafe { real(fd) }
}

/// # Safety
/// As dup2(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let Some(real) = real!(dup2: fn(c_int, c_int) -> c_int) else {
        return no_such_function();
    };
    if old != new {
        before_close(new);
    }
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(old, new) }
}

/// # Safety
/// As dup3(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let Some(real) = real!(dup3: fn(c_int, c_int, c_int) -> c_int) else {
        return no_such_function();
    };
    if old != new {
        before_close(new);
    }
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(old, new, flags) }
}

/// # Safety
/// As setsockopt(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    let Some(real) = real!(setsockopt: fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int)
    else {
        return no_such_function();
    };
    if level == libc::SOL_SOCKET
        && (name == slh::uapi::SO_SOCKLEVELHASH || name == slh::uapi::SO_SOCKADDLSPH)
    {
        TRACKER.program_manages(fd);
    }
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(fd, level, name, value, len) }
}

/// # Safety
/// As poll(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    let Some(real) = real!(poll: fn(*mut pollfd, nfds_t, c_int) -> c_int) else {
        return no_such_function();
    };
    // SAFETY: poll's contract: `fds` holds `nfds` entries.
    unsafe { before_poll(fds, nfds) };
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(fds, nfds, timeout) }
}

/// # Safety
/// As ppoll(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    let Some(real) =
        real!(ppoll: fn(*mut pollfd, nfds_t, *const timespec, *const sigset_t) -> c_int)
    else {
        return no_such_function();
    };
    // SAFETY: ppoll's contract: `fds` holds `nfds` entries.
    unsafe { before_poll(fds, nfds) };
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(fds, nfds, timeout, sigmask) }
}

/// glibc's `poll` under `_FORTIFY_SOURCE`.
///
/// # Safety
/// As poll(2), with `fdslen` the size of the array in bytes.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    let Some(real) = real!(__poll_chk: fn(*mut pollfd, nfds_t, c_int, size_t) -> c_int) else {
        return no_such_function();
    };
    // Only what the array really holds: the real function aborts on a larger nfds.
    let scan = nfds.min((fdslen / size_of::<pollfd>()) as nfds_t);
    // SAFETY: `fds` holds `fdslen` bytes, hence `scan` entries.
    unsafe { before_poll(fds, scan) };
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(fds, nfds, timeout, fdslen) }
}

/// glibc's `ppoll` under `_FORTIFY_SOURCE`.
///
/// # Safety
/// As ppoll(2), with `fdslen` the size of the array in bytes.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    let Some(real) = real!(__ppoll_chk: fn(*mut pollfd, nfds_t, *const timespec, *const sigset_t, size_t) -> c_int)
    else {
        return no_such_function();
    };
    let scan = nfds.min((fdslen / size_of::<pollfd>()) as nfds_t);
    // SAFETY: `fds` holds `fdslen` bytes, hence `scan` entries.
    unsafe { before_poll(fds, scan) };
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(fds, nfds, timeout, sigmask, fdslen) }
}

/// # Safety
/// As select(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    let Some(real) =
        real!(select: fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *mut timeval) -> c_int)
    else {
        return no_such_function();
    };
    // SAFETY: select's contract: `readfds` is null or a valid fd_set.
    unsafe { before_select(nfds, readfds) };
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(nfds, readfds, writefds, exceptfds, timeout) }
}

/// # Safety
/// As pselect(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    let Some(real) = real!(
        pselect: fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *const timespec, *const sigset_t) -> c_int
    ) else {
        return no_such_function();
    };
    // SAFETY: pselect's contract: `readfds` is null or a valid fd_set.
    unsafe { before_select(nfds, readfds) };
    // SAFETY: the program's arguments, passed on unchanged.
    unsafe { real(nfds, readfds, writefds, exceptfds, timeout, sigmask) }
}
