// SPDX-License-Identifier: MIT OR Apache-2.0
//! SIGUSR1 and SIGUSR2 in a demo worker: deregister, or register to any free queue, from the
//! signal handler itself, with only async-signal-safe calls (no allocation, no lock).

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use slh::uapi::{SLOT_ANY, SLOT_DEREGISTER, SOL_SOCKET, SO_SOCKADDLSPH};

/// The listener's descriptor, for the signal handlers of a worker (-1 in the server).
pub(super) static WORKER_LISTENER: AtomicI32 = AtomicI32::new(-1);
/// Whether the option is on (registration requests make sense).
static OPTION_ENABLED: AtomicBool = AtomicBool::new(false);

/// SIGUSR1 (deregister) and SIGUSR2 (register to any free queue), installed before the first
/// fork so that no worker ever has the default action (termination) for them. The handler
/// does the work itself: a flag checked by the accept loop could be set just after the check
/// and wait for the next connection; `SA_RESTART` then re-enters the interrupted accept(2) or
/// epoll_wait(2), now under the new registration.
/// Each worker publishes its listener's descriptor in [`WORKER_LISTENER`] when it starts.
pub(super) fn install_worker_signals(enabled: bool) -> io::Result<()> {
    OPTION_ENABLED.store(enabled, Ordering::Relaxed);
    for signal in [libc::SIGUSR1, libc::SIGUSR2] {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler is an
        // `extern "C" fn(c_int)` that only makes async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_registration_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// A line written from a signal handler: formatted on the stack (no allocation, no lock).
struct HandlerLine {
    buf: [u8; 128],
    len: usize,
}

impl std::fmt::Write for HandlerLine {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        let Some(room) = self.buf.get_mut(self.len..end) else {
            return Err(std::fmt::Error);
        };
        room.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

extern "C" fn on_registration_signal(signal: libc::c_int) {
    // SAFETY: errno is thread-local; it is restored so the interrupted code never sees ours.
    let saved_errno = unsafe { *libc::__errno_location() };
    let fd = WORKER_LISTENER.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: getpid is async-signal-safe.
        let pid = unsafe { libc::getpid() };
        let mut line = HandlerLine {
            buf: [0; 128],
            len: 0,
        };
        let _ = if !OPTION_ENABLED.load(Ordering::Relaxed) {
            writeln!(
                line,
                "worker {pid}: the option is off; nothing to (de)register"
            )
        } else if signal == libc::SIGUSR1 {
            match set_registration(fd, SLOT_DEREGISTER) {
                Ok(()) => writeln!(line, "worker {pid}: deregistered"),
                Err(errno) => writeln!(line, "worker {pid}: deregister failed: errno {errno}"),
            }
        } else {
            match set_registration(fd, SLOT_ANY).and_then(|()| registered_queue(fd)) {
                Ok(queue) => writeln!(line, "worker {pid}: registered to queue {queue}"),
                Err(errno) => writeln!(line, "worker {pid}: register failed: errno {errno}"),
            }
        };
        // SAFETY: write(2) is async-signal-safe; the buffer holds `len` initialised bytes.
        unsafe { libc::write(libc::STDERR_FILENO, line.buf.as_ptr().cast(), line.len) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// `setsockopt(SO_SOCKADDLSPH, value)`; the errno on failure. (The library's calls allocate
/// their errors, which a signal handler must not.)
fn set_registration(fd: libc::c_int, value: i32) -> Result<(), i32> {
    // SAFETY: `value` is a live int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            SOL_SOCKET,
            SO_SOCKADDLSPH,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: errno is thread-local.
        Err(unsafe { *libc::__errno_location() })
    }
}

/// `getsockopt(SO_SOCKADDLSPH)`: the caller's queue.
fn registered_queue(fd: libc::c_int) -> Result<i32, i32> {
    let mut value = 0i32;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and writable for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            SOL_SOCKET,
            SO_SOCKADDLSPH,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        // SAFETY: errno is thread-local.
        Err(unsafe { *libc::__errno_location() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_lines_are_bounded() {
        let mut line = HandlerLine {
            buf: [0; 128],
            len: 0,
        };
        assert!(writeln!(line, "worker {}: registered to queue {}", 4242, 7).is_ok());
        assert_eq!(
            &line.buf[..line.len],
            b"worker 4242: registered to queue 7\n"
        );
        assert!(line.write_str(&"x".repeat(200)).is_err());
        assert_eq!(line.len, 35, "a refused write leaves the line as it was");
    }
}
