// SPDX-License-Identifier: GPL-2.0
//! `slh demo-server`: a pre-fork TCP server whose workers each register to a queue and say
//! which client they served, to watch the socket-level hash keep clients on one worker.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use slh::{Config, Queues, Slot, SocketLevelHash};

use crate::DemoArgs;

/// How long a worker waits for a client to close after the answer (see [`serve`]).
const LINGER: Duration = Duration::from_secs(1);

pub fn run(args: &DemoArgs) -> ExitCode {
    let listener = match TcpListener::bind((args.address, args.port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
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
            eprintln!("slh demo-server: O_NONBLOCK: {error}");
            return ExitCode::FAILURE;
        }
    }
    let local = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    eprintln!(
        "slh demo-server: listening on {local}, {} workers ({}), socket-level hash: {description}",
        args.workers,
        if args.epoll {
            "epoll"
        } else {
            "blocking accept"
        },
    );
    // Whatever is buffered now would be written once more by every child.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();

    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let mut started = 0;
    for _ in 0..args.workers {
        // SAFETY: the process is single-threaded here (nothing started a thread), so the child
        // may run ordinary Rust code; it never returns into the parent's loop (see below).
        match unsafe { libc::fork() } {
            -1 => {
                eprintln!("slh demo-server: fork: {}", io::Error::last_os_error());
                break;
            }
            0 => {
                let code = worker(&listener, parent, enabled, args.epoll);
                // SAFETY: `_exit` ends the child without unwinding into the parent's code or
                // running its exit handlers twice.
                unsafe { libc::_exit(code) }
            }
            _ => started += 1,
        }
    }
    wait_for_workers(started, started == args.workers)
}

/// Enables the option as asked; returns whether it is on and how to describe it, or `None`
/// after explaining why the server must not run.
fn enable(listener: &TcpListener, args: &DemoArgs) -> Option<(bool, String)> {
    if args.off {
        let note = match listener.queue_count() {
            Err(error) if error.is_unsupported() => "; this kernel does not support it anyway",
            _ => "",
        };
        return Some((false, format!("off (--off){note}")));
    }
    let config = Config {
        // One queue per worker lets every worker register whatever the CPU count.
        queues: args.queues.unwrap_or(Queues::Count(args.workers)),
        hash: args.hash,
        input: args.input,
    };
    match listener.enable_with(config) {
        Ok(()) => {
            let active = match listener.config() {
                Ok(Some(active)) => active,
                _ => config,
            };
            Some((true, active.to_string()))
        }
        Err(error) if error.is_unsupported() => {
            eprintln!("slh demo-server: SO_SOCKLEVELHASH is unsupported by this kernel: {error}");
            if args.allow_unsupported {
                Some((
                    false,
                    "unsupported by this kernel, serving without it (--allow-unsupported)".into(),
                ))
            } else {
                eprintln!(
                    "slh demo-server: not serving without it; pass --allow-unsupported to do so, \
                     or --off"
                );
                None
            }
        }
        Err(error) => {
            eprintln!("slh demo-server: {error}");
            None
        }
    }
}

/// Waits for the workers; they only end on a fatal error or a signal.
fn wait_for_workers(mut running: u32, all_started: bool) -> ExitCode {
    let mut failed = !all_started;
    while running > 0 {
        let mut status = 0;
        // SAFETY: `status` is a writable int; waiting for any child has no other requirement.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        running -= 1;
        failed = true;
        if libc::WIFSIGNALED(status) {
            eprintln!(
                "slh demo-server: worker {pid} killed by signal {}",
                libc::WTERMSIG(status)
            );
        } else {
            eprintln!(
                "slh demo-server: worker {pid} exited with status {}",
                libc::WEXITSTATUS(status)
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A worker: registers, then serves until a fatal error. Returns the exit status.
fn worker(listener: &TcpListener, parent: libc::pid_t, enabled: bool, epoll: bool) -> i32 {
    // The workers must not outlive the server: without this, killing the parent would leave
    // them accepting.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number by value.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        return 0; // the parent died before the signal was armed
    }
    let pid = std::process::id();
    if enabled {
        match listener.register(Slot::Any) {
            Ok(queue) => eprintln!("worker {pid}: registered to queue {queue}"),
            Err(error) => {
                eprintln!("worker {pid}: {error}; accepting from the normal queue only")
            }
        }
    } else {
        eprintln!("worker {pid}: accepting (not registered)");
    }
    let result = if epoll {
        epoll_loop(listener, pid)
    } else {
        loop {
            match accept(listener) {
                Ok(Some((stream, peer))) => serve(stream, peer, pid),
                Ok(None) => {}
                Err(error) => break Err(error),
            }
        }
    };
    let error = result.expect_err("the loops end on errors only");
    eprintln!("worker {pid}: {error}");
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

fn epoll_loop(listener: &TcpListener, pid: u32) -> io::Result<()> {
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
                Ok(Some((stream, peer))) => serve(stream, peer, pid),
                Ok(None) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => return Err(error),
            }
        }
    }
}

/// Reports the connection on stdout, answers with the worker's pid, closes.
fn serve(mut stream: TcpStream, peer: SocketAddr, pid: u32) {
    // One write per line: the workers share stdout, and a pipe keeps writes this small whole.
    let _ = io::stdout()
        .lock()
        .write_all(format!("{pid} {peer}\n").as_bytes());
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
            _ => break,
        }
    }
}
