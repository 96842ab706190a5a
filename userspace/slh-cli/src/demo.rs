// SPDX-License-Identifier: MIT OR Apache-2.0
//! `slh demo-server`: a pre-fork TCP server whose workers each register to a queue and say
//! which client they served, to watch the socket-level hash keep clients on one worker.
//!
//! This file is the server: it enables the option, forks the workers (`demo/worker.rs`) and
//! supervises them; `demo/registration_signal.rs` lets a worker be (de)registered by a signal.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use slh::{Config, Queues, SocketLevelHash};

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

// Below `say!`, which a module sees only after its definition.
mod registration_signal;
mod worker;

use registration_signal::install_worker_signals;
use worker::worker;

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
    let queues = args.queues.unwrap_or_else(|| {
        Queues::count(args.workers).expect("clap limits --workers to 1..=MAX_QUEUES")
    });
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
