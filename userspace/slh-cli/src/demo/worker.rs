// SPDX-License-Identifier: MIT OR Apache-2.0
//! A demo worker: registers to a queue, then accepts (blocking, or with epoll) and answers
//! each client with its pid, reporting the connection on stdout.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use slh::{Slot, SocketLevelHash};

use super::registration_signal::WORKER_LISTENER;
use super::WorkerSetup;

/// How long a worker waits for a client to close after the answer (see [`serve`]).
const LINGER: Duration = Duration::from_secs(1);

/// A worker: registers, then serves until a fatal error. Returns the exit status.
pub(super) fn worker(listener: &TcpListener, setup: WorkerSetup) -> i32 {
    // The workers must not outlive the server: without this, killing the parent would leave
    // them accepting.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number by value.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != setup.parent {
        return 0; // the parent died before the signal was armed
    }
    let pid = std::process::id();
    WORKER_LISTENER.store(listener.as_raw_fd(), Ordering::Relaxed);
    let (enabled, epoll, accept_times) = (setup.enabled, setup.epoll, setup.accept_times);
    if enabled {
        match listener.register_sock_level_hash(Slot::Any) {
            Ok(queue) => say!("worker {pid}: registered to queue {queue}"),
            Err(error) => {
                say!("worker {pid}: {error}; accepting from the normal queue only")
            }
        }
    } else {
        say!("worker {pid}: accepting (not registered)");
    }
    let result = if epoll {
        epoll_loop(listener, pid, accept_times)
    } else {
        loop {
            match accept(listener) {
                Ok(Some((stream, peer))) => serve(stream, peer, pid, accept_times),
                Ok(None) => {}
                Err(error) => break Err(error),
            }
        }
    };
    let error = result.expect_err("the loops end on errors only");
    say!("worker {pid}: {error}");
    1
}

/// One accept; `Ok(None)` for errors that concern one connection or are transient.
fn accept(listener: &TcpListener) -> io::Result<Option<(TcpStream, SocketAddr)>> {
    match listener.accept() {
        Ok(accepted) => Ok(Some(accepted)),
        Err(error) => match error.raw_os_error() {
            Some(libc::EINTR | libc::ECONNABORTED | libc::EPROTO) => Ok(None),
            // Out of descriptors or memory: wait for connections to close rather than spin.
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                std::thread::sleep(Duration::from_millis(100));
                Ok(None)
            }
            _ => Err(io::Error::new(error.kind(), format!("accept: {error}"))),
        },
    }
}

fn epoll_loop(listener: &TcpListener, pid: u32, accept_times: bool) -> io::Result<()> {
    // SAFETY: epoll_create1 takes flags by value and returns a new descriptor or -1.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `epfd` is the new descriptor, owned by nobody else.
    let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };
    // Exclusive: one worker woken per connection instead of all of them.
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32,
        u64: 0,
    };
    // SAFETY: `event` is a valid epoll_event for the call; both descriptors are open.
    if unsafe {
        libc::epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            listener.as_raw_fd(),
            &mut event,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    let mut ready = [libc::epoll_event { events: 0, u64: 0 }];
    loop {
        // SAFETY: `ready` has room for the one event asked for.
        let n = unsafe { libc::epoll_wait(epoll.as_raw_fd(), ready.as_mut_ptr(), 1, -1) };
        if n < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(io::Error::new(error.kind(), format!("epoll_wait: {error}")));
        }
        // Accept until the queue is empty; the socket is non-blocking.
        loop {
            match accept(listener) {
                Ok(Some((stream, peer))) => serve(stream, peer, pid, accept_times),
                Ok(None) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => return Err(error),
            }
        }
    }
}

/// Reports the connection on stdout, answers with the worker's pid, closes.
fn serve(mut stream: TcpStream, peer: SocketAddr, pid: u32, accept_times: bool) {
    let mut line = format!("{pid} {peer}");
    if accept_times {
        let _ = write!(line, " {}", monotonic_now());
    }
    line.push('\n');
    // One write per line: the workers share stdout, and a pipe keeps writes this small whole.
    let _ = io::stdout().lock().write_all(line.as_bytes());
    let _ = stream.write_all(format!("worker {pid}\n").as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    // Read what the client sent until it closes (bounded): closing with unread data would
    // send a reset, which can destroy the answer before the client has read it.
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 1024];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => continue,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            _ => break,
        }
    }
}

/// CLOCK_MONOTONIC as seconds with microseconds, the clock other processes (a test's client)
/// compare with: Python's `time.monotonic()` reads the same one.
fn monotonic_now() -> String {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    format_monotonic(now.tv_sec, now.tv_nsec)
}

fn format_monotonic(secs: libc::time_t, nanos: libc::c_long) -> String {
    format!("{secs}.{:06}", nanos / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_times_print_microseconds() {
        assert_eq!(format_monotonic(12, 3_456_789), "12.003456");
        assert_eq!(format_monotonic(0, 999_999_999), "0.999999");
    }
}
