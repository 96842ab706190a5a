// SPDX-License-Identifier: MIT OR Apache-2.0
//! `libslh_preload.so`: socket-level hash for unmodified pre-fork servers.
//!
//! `LD_PRELOAD=libslh_preload.so server ...` interposes the libc calls a pre-fork server makes
//! on its listen socket:
//! - `listen()`: after the real call succeeds, enables `SO_SOCKLEVELHASH` on TCP (IPv4/IPv6)
//!   stream sockets (configuration from `SLH_*` variables, see `userspace/README.md`);
//! - `accept`, `accept4`, `epoll_ctl` (ADD/MOD), `poll`, `ppoll`, `select`, `pselect` (and
//!   glibc's fortified `__poll_chk`, `__ppoll_chk`): before the real call, when it concerns
//!   such a socket, registers the calling process once (`SO_SOCKADDLSPH`, any free queue), so a
//!   worker owns a queue before it can accept its first connection, whichever way it waits.
//!   The process that called `listen()` (a master) registers only when it accepts itself: a
//!   master that polls the listener to spawn workers must not own buckets. A socket that
//!   already has the option when first accepted or added to epoll (inherited across `exec`,
//!   as in a binary upgrade) is adopted;
//! - `close`, `dup2`, `dup3`: when the process closes (or replaces) its last descriptor of a
//!   socket it is registered on, it deregisters first, so its parked connections move to the
//!   processes that still accept (an old nginx worker after a reload);
//! - `setsockopt`: a program that sets the options itself is left alone on that socket.
//!
//! On a kernel without the feature enabling fails and nothing else happens. The program sees
//! the real calls' results and errno. Invalid settings, `SO_REUSEPORT` listeners and queues
//! running out are reported once on stderr and to syslog; the rest only with `SLH_DEBUG=1`.

mod settings;
mod tracker;

use std::ffi::{c_int, c_void, CString};
use std::mem::{size_of, ManuallyDrop};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{BorrowedFd, FromRawFd};
use std::sync::{Once, OnceLock};

use libc::{
    epoll_event, fd_set, nfds_t, pollfd, sigset_t, size_t, sockaddr, socklen_t, timespec, timeval,
};
use settings::{Inactive, Settings};
use slh::{Slot, SocketLevelHash};
use tracker::Tracker;

static TRACKER: Tracker = Tracker::new();
static SETTINGS: OnceLock<Result<Settings, Inactive>> = OnceLock::new();
static ATFORK: Once = Once::new();

/// The settings, read at the first `listen()`; `None` when the shim is to do nothing.
fn settings() -> Option<&'static Settings> {
    SETTINGS
        .get_or_init(|| {
            let settings = settings::from_env(|name| std::env::var(name).ok());
            if let Err(Inactive::Invalid { message }) = &settings {
                warn(&format!("{message}; doing nothing"));
            }
            settings
        })
        .as_ref()
        .ok()
}

/// Writes one line to stderr with a single write(2), without std's stderr lock (which a
/// thread of the parent may have held when a worker was forked).
fn log(message: &str) {
    let line = format!("slh-preload[{}]: {message}\n", std::process::id());
    // SAFETY: writes `line.len()` bytes from a live buffer to descriptor 2; a failure (no
    // stderr) is ignored, as the program must not notice the shim.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// Reports what an operator must see: on stderr and to syslog (a daemon's stderr is often
/// /dev/null).
fn warn(message: &str) {
    log(message);
    if let Ok(line) = CString::new(format!("slh-preload[{}]: {message}", std::process::id())) {
        // SAFETY: a constant "%s" format with one NUL-terminated string argument.
        unsafe {
            libc::syslog(
                libc::LOG_DAEMON | libc::LOG_WARNING,
                c"%s".as_ptr(),
                line.as_ptr(),
            )
        };
    }
}

/// Milliseconds on the monotonic clock.
fn now_ms() -> u64 {
    let mut now = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a writable timespec; CLOCK_MONOTONIC_COARSE is a vDSO read.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000
}

fn debug(message: impl FnOnce() -> String) {
    if settings().is_some_and(|s| s.debug) {
        log(&message());
    }
}

/// errno as the program's own call left it: restored after the shim's extra system calls.
struct SavedErrno(c_int);

impl SavedErrno {
    fn save() -> Self {
        // SAFETY: __errno_location returns this thread's errno, always valid.
        SavedErrno(unsafe { *libc::__errno_location() })
    }
}

impl Drop for SavedErrno {
    fn drop(&mut self) {
        // SAFETY: as in `save`.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

/// The next definition of a libc function (libc's own), looked up once.
macro_rules! real {
    ($name:ident: fn($($arg:ty),*) -> $ret:ty) => {{
        static CACHE: std::sync::atomic::AtomicPtr<c_void> =
            std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
        let mut pointer = CACHE.load(std::sync::atomic::Ordering::Relaxed);
        if pointer.is_null() {
            // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT skips this object.
            pointer = unsafe {
                libc::dlsym(libc::RTLD_NEXT, concat!(stringify!($name), "\0").as_ptr().cast())
            };
            CACHE.store(pointer, std::sync::atomic::Ordering::Relaxed);
        }
        if pointer.is_null() {
            None
        } else {
            // SAFETY: the symbol is libc's function of this name, whose C prototype is the
            // one given here (the same as the interposer's).
            Some(unsafe {
                std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) -> $ret>(pointer)
            })
        }
    }};
}

/// What a call returns when libc lacks the function (never on glibc).
fn no_such_function() -> c_int {
    // SAFETY: as in `SavedErrno::save`.
    unsafe { *libc::__errno_location() = libc::ENOSYS };
    -1
}

fn get_int(fd: c_int, name: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: `value` is a writable int of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(value)
}

/// Whether `fd` is a TCP socket over IPv4 or IPv6 (not SCTP, MPTCP, UDP, Unix...).
fn is_tcp(fd: c_int) -> bool {
    matches!(
        get_int(fd, libc::SO_DOMAIN),
        Some(libc::AF_INET | libc::AF_INET6)
    ) && get_int(fd, libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && get_int(fd, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP)
}

fn local_addr(fd: c_int) -> Option<SocketAddr> {
    // SAFETY: the descriptor is the program's and stays open during the call; ManuallyDrop
    // keeps the temporary listener from closing it.
    let listener = ManuallyDrop::new(unsafe { TcpListener::from_raw_fd(fd) });
    listener.local_addr().ok()
}

/// After a successful `listen(fd)`: enable the option if the socket qualifies.
fn after_listen(fd: c_int) {
    let Some(settings) = settings() else {
        return;
    };
    if !is_tcp(fd) {
        TRACKER.forget(fd);
        return; // not ours to touch, not worth a log line either
    }
    let Some(local) = local_addr(fd) else {
        TRACKER.forget(fd);
        return;
    };
    let name = format!("listen fd {fd} ({local})");
    if !settings.ports.allows(local.port()) {
        TRACKER.forget(fd);
        debug(|| format!("{name}: port {} not in SLH_PORTS, left alone", local.port()));
        return;
    }
    if TRACKER.is_program_managed(fd) {
        debug(|| format!("{name}: the program sets SO_SOCKLEVELHASH itself, left alone"));
        return;
    }
    if get_int(fd, libc::SO_REUSEPORT).is_some_and(|on| on != 0) {
        TRACKER.forget(fd);
        warn(&format!(
            "{name}: SO_REUSEPORT is set: the reuseport group's own hash would defeat the persistence; left alone"
        ));
        return;
    }
    // SAFETY: the program's descriptor, open for the duration of these calls.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    match socket.sock_level_hash_queues() {
        Ok(0) => {}
        Ok(queues) => {
            // listen() again on our socket, or on one that got the option before an exec.
            if !TRACKER.is_enabled(fd) {
                adopt(fd, queues);
            }
            TRACKER.listened();
            return;
        }
        Err(error) => {
            TRACKER.forget(fd);
            debug(|| {
                format!(
                    "{name}: SO_SOCKLEVELHASH not enabled: {error}; the program runs without it"
                )
            });
            return;
        }
    }
    match socket.set_sock_level_hash(settings.config) {
        Ok(()) => {
            // The child handler is needed from now on, and inherited by every fork.
            ATFORK.call_once(|| {
                // SAFETY: registers a plain function without arguments as fork child handler.
                unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
            });
            if TRACKER.enabled(fd) {
                TRACKER.listened();
                debug(|| format!("{name}: enabled SO_SOCKLEVELHASH, {}", settings.config));
            } else {
                debug(|| {
                    format!("{name}: enabled, but the descriptor is too large to track: workers will not register")
                });
            }
        }
        Err(error) => {
            TRACKER.forget(fd);
            debug(|| {
                format!(
                    "{name}: SO_SOCKLEVELHASH not enabled: {error}; the program runs without it"
                )
            });
        }
    }
}

extern "C" fn forked_child() {
    TRACKER.forked();
}

/// `fd` is a listen socket that has the option though this process image did not set it
/// (inherited across `exec`): treat it as the shim's.
fn adopt(fd: c_int, queues: u32) {
    if TRACKER.enabled(fd) {
        ATFORK.call_once(|| {
            // SAFETY: registers a plain function without arguments as fork child handler.
            unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
        });
        debug(|| {
            format!("listen fd {fd}: already has SO_SOCKLEVELHASH ({queues} queues), adopted")
        });
    }
}

/// Before `accept()` or `epoll_ctl()` on a descriptor the shim does not know: whether it is a
/// listen socket with the option, inherited across `exec`. One `getsockopt` per descriptor
/// number (it fails at once on anything but a TCP socket).
fn probe_inherited(fd: c_int) {
    if settings().is_none() || TRACKER.is_enabled(fd) || TRACKER.is_program_managed(fd) {
        return;
    }
    if !TRACKER.first_probe(fd) {
        return;
    }
    let _errno = SavedErrno::save();
    // SAFETY: the program passes `fd` to the call it is about to make; it is open now.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    if let Ok(queues @ 1..) = socket.sock_level_hash_queues() {
        if get_int(fd, libc::SO_ACCEPTCONN) == Some(1) {
            adopt(fd, queues);
        }
    }
}

/// How a call concerns a listen socket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// `accept()`: the process takes connections.
    Accept,
    /// epoll, poll, select: it waits for them (a master may wait without accepting).
    Wait,
}

/// Before a call that waits for or takes connections from `fd`: register this process on it,
/// once. Leaves errno as it was.
fn before_accepting(fd: c_int, how: Use) {
    if !TRACKER.registration_due(fd, now_ms) {
        return;
    }
    if how == Use::Wait && TRACKER.is_listener_process() {
        return;
    }
    if !TRACKER.claim_registration(fd) {
        return;
    }
    let _errno = SavedErrno::save();
    // SAFETY: the program passes `fd` to the call it is about to make; it is open now.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    match socket.register_sock_level_hash(Slot::Any) {
        Ok(queue) => {
            TRACKER.registered(fd);
            debug(|| format!("listen fd {fd}: registered this process to queue {queue}"));
        }
        Err(error) if error.errno() == Some(libc::ENOSPC) => {
            if TRACKER.no_space(fd, now_ms()) {
                let queues = socket.sock_level_hash_queues().unwrap_or(0);
                warn(&format!(
                    "listen fd {fd}: every one of the {queues} queues has an owner; this process takes connections from the normal queue and tries again every second (raise SLH_QUEUES)"
                ));
            }
        }
        Err(error) => {
            if matches!(
                error.errno(),
                Some(libc::ENOTSOCK | libc::EBADF | libc::EOPNOTSUPP)
            ) {
                // The number now names another file, or a socket without the option.
                TRACKER.forget(fd);
            }
            debug(|| {
                format!(
                    "listen fd {fd}: {error}; this process takes connections from the normal queue"
                )
            });
        }
    }
}

/// Before `fd` is closed or replaced: if it is this process's last descriptor of a socket it
/// is registered on, deregister (its parked connections move to the processes that still
/// accept). Leaves errno as it was.
fn before_close(fd: c_int) {
    if !TRACKER.any_enabled() || !(TRACKER.is_enabled(fd) || TRACKER.is_program_managed(fd)) {
        return;
    }
    let _errno = SavedErrno::save();
    if TRACKER.is_registered(fd) {
        let same_socket = |other: c_int| {
            // SAFETY: two writable stat buffers.
            let mut a: libc::stat = unsafe { std::mem::zeroed() };
            let mut b: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fstat on descriptors of this process into our buffers.
            let both = unsafe { libc::fstat(fd, &mut a) == 0 && libc::fstat(other, &mut b) == 0 };
            both && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        };
        match TRACKER.enabled_except(fd).find(|&other| same_socket(other)) {
            Some(other) => TRACKER.registered(other),
            None => {
                // SAFETY: the program's descriptor, still open.
                let socket = unsafe { BorrowedFd::borrow_raw(fd) };
                match socket.deregister_sock_level_hash() {
                    Ok(()) => debug(|| format!("listen fd {fd} closed: deregistered this process")),
                    Err(error) => debug(|| format!("listen fd {fd} closed: {error}")),
                }
            }
        }
    }
    TRACKER.closed(fd);
}

/// poll(2) arrays beyond this are not scanned (the kernel refuses more than RLIMIT_NOFILE).
const MAX_POLL_SCAN: nfds_t = 1 << 20;

/// # Safety
/// `fds` must be null or point to `nfds` readable `pollfd`s.
unsafe fn before_poll(fds: *const pollfd, nfds: nfds_t) {
    if !TRACKER.any_enabled() || fds.is_null() || nfds == 0 || nfds > MAX_POLL_SCAN {
        return;
    }
    // SAFETY: by the caller's contract, `fds` holds `nfds` entries.
    let entries = unsafe { std::slice::from_raw_parts(fds, nfds as usize) };
    for entry in entries {
        if entry.events != 0 {
            before_accepting(entry.fd, Use::Wait);
        }
    }
}

/// # Safety
/// `readfds` must be null or point to a readable `fd_set`.
unsafe fn before_select(nfds: c_int, readfds: *const fd_set) {
    if !TRACKER.any_enabled() || readfds.is_null() {
        return;
    }
    let limit = nfds.min(libc::FD_SETSIZE as c_int);
    for fd in TRACKER.enabled_below(limit) {
        // SAFETY: `fd` is below FD_SETSIZE and `readfds` a readable fd_set.
        if unsafe { libc::FD_ISSET(fd, readfds) } {
            before_accepting(fd, Use::Wait);
        }
    }
}

// The interposers. In the crate's unit tests they are not exported (`no_mangle` only outside
// tests), so the test binary keeps libc's functions.

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

#[cfg(test)]
mod tests {
    use super::*;

    /// True (after saying why) on a kernel with the socket-level hash: the hooks' tests below
    /// rely on the kernel's refusal (ENOPROTOOPT) to leave the descriptors tracked.
    fn skip_on_a_kernel_with_the_feature(test: &str) -> bool {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: `probe` is open for the duration of the borrow.
        let socket = unsafe { BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&probe)) };
        let skip = socket.sock_level_hash_queues().is_ok();
        if skip {
            eprintln!("SKIP {test}: this kernel has the socket-level hash; the test is about one without it");
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
}
