// SPDX-License-Identifier: MIT OR Apache-2.0
//! `slh demo-server`: a pre-fork TCP server whose workers each register to a queue and say
//! which client they served, to watch the socket-level hash keep clients on one worker.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use slh::uapi::{SLOT_ANY, SLOT_DEREGISTER, SOL_SOCKET, SO_SOCKADDLSPH};
use slh::{Config, Queues, Slot, SocketLevelHash};

use crate::DemoArgs;

/// `eprintln!` for a process that shares stderr with others: `eprintln!` writes a line in
/// several pieces, between which another worker's line can land; this makes one write(2).
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }};
}

/// How long a worker waits for a client to close after the answer (see [`serve`]).
const LINGER: Duration = Duration::from_secs(1);

/// What a worker needs to know when it runs; fixed before the first fork.
#[derive(Clone, Copy)]
struct WorkerSetup {
    parent: libc::pid_t,
    enabled: bool,
    epoll: bool,
    accept_times: bool,
}

pub fn run(args: &DemoArgs) -> ExitCode {
    let listener = match TcpListener::bind((args.address, args.port)) {
        Ok(listener) => listener,
        Err(error) => {
            say!(
                "slh demo-server: cannot listen on {}: {error}",
                SocketAddr::new(args.address, args.port)
            );
            return ExitCode::FAILURE;
        }
    };
    let Some((enabled, description)) = enable(&listener, args) else {
        return ExitCode::FAILURE;
    };
    if args.epoll {
        // The flag belongs to the open file, shared by all workers: all of them use epoll.
        if let Err(error) = listener.set_nonblocking(true) {
            say!("slh demo-server: O_NONBLOCK: {error}");
            return ExitCode::FAILURE;
        }
    }
    let local = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    say!(
        "slh demo-server: listening on {local}, {} workers ({}), socket-level hash: {description}",
        args.workers,
        if args.epoll {
            "epoll"
        } else {
            "blocking accept"
        },
    );
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let setup = WorkerSetup {
        parent,
        enabled,
        epoll: args.epoll,
        accept_times: args.accept_times,
    };
    if let Err(error) = install_worker_signals(enabled) {
        say!("slh demo-server: signal handlers: {error}");
        return ExitCode::FAILURE;
    }
    let supervisor_signals = match SupervisorSignals::block() {
        Ok(signals) => signals,
        Err(error) => {
            say!("slh demo-server: blocking SIGCHLD and SIGTTIN: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut running = 0;
    for _ in 0..args.workers {
        match start_worker(&listener, setup, &supervisor_signals) {
            Ok(_) => running += 1,
            Err(error) => {
                say!("slh demo-server: fork: {error}");
                break;
            }
        }
    }
    supervise(
        &listener,
        setup,
        &supervisor_signals,
        running,
        running == args.workers,
        args.respawn,
    )
}

/// Forks a worker, which never returns into the caller; returns its pid.
fn start_worker(
    listener: &TcpListener,
    setup: WorkerSetup,
    signals: &SupervisorSignals,
) -> io::Result<libc::pid_t> {
    // Whatever is buffered now would be written once more by the child.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: the process is single-threaded (nothing started a thread), so the child may run
    // ordinary Rust code; it never returns into the parent's code (see below).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            signals.unblock_in_child();
            let code = worker(listener, setup);
            // SAFETY: `_exit` ends the child without unwinding into the parent's code or
            // running its exit handlers twice.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(pid),
    }
}

/// Enables the option as asked; returns whether it is on and how to describe it, or `None`
/// after explaining why the server must not run.
fn enable(listener: &TcpListener, args: &DemoArgs) -> Option<(bool, String)> {
    if args.off {
        let note = match listener.sock_level_hash_queues() {
            Err(error) if error.is_unsupported() => "; this kernel does not support it anyway",
            _ => "",
        };
        return Some((false, format!("off (--off){note}")));
    }
    // One queue per worker lets every worker register whatever the CPU count.
    let queues = args
        .queues
        .unwrap_or_else(|| Queues::count(args.workers).expect("clap limits --workers to 1..=1024"));
    let config = Config::new(queues, args.hash)
        .with_input(args.input)
        .with_max_wait(args.max_wait);
    match listener.set_sock_level_hash(config) {
        Ok(()) => {
            let active = match listener.sock_level_hash() {
                Ok(Some(active)) => active,
                _ => config,
            };
            Some((true, active.to_string()))
        }
        Err(error) if error.is_unsupported() => {
            say!("slh demo-server: SO_SOCKLEVELHASH is unsupported by this kernel: {error}");
            if args.allow_unsupported {
                Some((
                    false,
                    "unsupported by this kernel, serving without it (--allow-unsupported)".into(),
                ))
            } else {
                say!(
                    "slh demo-server: not serving without it; pass --allow-unsupported to do so, \
                     or --off"
                );
                None
            }
        }
        Err(error) => {
            say!("slh demo-server: {error}");
            None
        }
    }
}

/// SIGCHLD and SIGTTIN, blocked in the server so that it takes them with `sigwaitinfo`: a
/// handler could miss a signal that arrives between its check and the wait.
struct SupervisorSignals {
    set: libc::sigset_t,
    old_mask: libc::sigset_t,
}

impl SupervisorSignals {
    fn block() -> io::Result<SupervisorSignals> {
        // SAFETY: sigset_t is plain data that sigemptyset initialises; the pointers are valid.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old_mask: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGCHLD);
            libc::sigaddset(&mut set, libc::SIGTTIN);
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old_mask);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(SupervisorSignals { set, old_mask })
        }
    }

    /// A worker gets the mask the server started with (SIGTTIN would otherwise stay pending).
    fn unblock_in_child(&self) {
        // SAFETY: `old_mask` was filled by pthread_sigmask; a null old-set pointer is allowed.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut()) };
    }

    /// The next of the two signals.
    fn wait(&self) -> io::Result<libc::c_int> {
        loop {
            // SAFETY: `set` is initialised; a null siginfo pointer is allowed.
            let signal = unsafe { libc::sigwaitinfo(&self.set, std::ptr::null_mut()) };
            if signal >= 0 {
                return Ok(signal);
            }
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINTR) {
                return Err(error);
            }
        }
    }
}

/// The server's loop: reaps workers that end (and starts new ones in their place with
/// `respawn`), starts one more worker on SIGTTIN. Returns when no worker is left.
fn supervise(
    listener: &TcpListener,
    setup: WorkerSetup,
    signals: &SupervisorSignals,
    mut running: u32,
    all_started: bool,
    respawn: bool,
) -> ExitCode {
    let mut failed = !all_started;
    while running > 0 {
        let signal = match signals.wait() {
            Ok(signal) => signal,
            Err(error) => {
                say!("slh demo-server: sigwaitinfo: {error}");
                return ExitCode::FAILURE;
            }
        };
        if signal == libc::SIGTTIN {
            match start_worker(listener, setup, signals) {
                Ok(pid) => {
                    running += 1;
                    say!("slh demo-server: started worker {pid} (SIGTTIN)");
                }
                Err(error) => say!("slh demo-server: fork: {error}"),
            }
            continue;
        }
        // One SIGCHLD may stand for several children: reap every one that ended.
        loop {
            let mut status = 0;
            // SAFETY: `status` is a writable int; WNOHANG makes the call return at once.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            running -= 1;
            failed = true;
            let how = if libc::WIFSIGNALED(status) {
                format!("killed by signal {}", libc::WTERMSIG(status))
            } else {
                format!("exited with status {}", libc::WEXITSTATUS(status))
            };
            if !respawn {
                say!("slh demo-server: worker {pid} {how}");
                continue;
            }
            match start_worker(listener, setup, signals) {
                Ok(new) => {
                    running += 1;
                    say!("slh demo-server: worker {pid} {how}; started worker {new} in its place");
                }
                Err(error) => say!("slh demo-server: worker {pid} {how}; fork: {error}"),
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The listener's descriptor, for the signal handlers of a worker (-1 in the server).
static WORKER_LISTENER: AtomicI32 = AtomicI32::new(-1);
/// Whether the option is on (registration requests make sense).
static OPTION_ENABLED: AtomicBool = AtomicBool::new(false);

/// SIGUSR1 (deregister) and SIGUSR2 (register to any free queue), installed before the first
/// fork so that no worker ever has the default action (termination) for them. The handler
/// does the work itself: a flag checked by the accept loop could be set just after the check
/// and wait for the next connection; `SA_RESTART` then re-enters the interrupted accept(2) or
/// epoll_wait(2), now under the new registration.
/// Each worker publishes its listener's descriptor in [`WORKER_LISTENER`] when it starts.
fn install_worker_signals(enabled: bool) -> io::Result<()> {
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

/// A worker: registers, then serves until a fatal error. Returns the exit status.
fn worker(listener: &TcpListener, setup: WorkerSetup) -> i32 {
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
