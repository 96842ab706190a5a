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

use std::ffi::{c_int, CString};
use std::mem::{size_of, ManuallyDrop};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{BorrowedFd, FromRawFd};
use std::sync::{Once, OnceLock};

use libc::{fd_set, nfds_t, pollfd, socklen_t, timespec};
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

// Below `real!`, which a module sees only after its definition.
mod interpose;
pub use interpose::{
    __poll_chk, __ppoll_chk, accept, accept4, close, dup2, dup3, epoll_ctl, listen, poll, ppoll,
    pselect, select, setsockopt,
};

#[cfg(test)]
mod tests;
