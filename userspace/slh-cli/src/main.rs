// SPDX-License-Identifier: MIT OR Apache-2.0
//! `slh`: shows a listening socket's socket-level hash queues and runs a demo pre-fork server.

mod demo;
mod fdgrab;
mod predict;
mod procnet;
mod report;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use slh::config::{parse_hash_fn, parse_hash_input};
use slh::uapi::MAX_QUEUES;
use slh::{HashFn, HashInput, MaxWait, Queues};

#[derive(Parser, Debug)]
#[command(
    name = "slh",
    version,
    about = "Socket-level hash (SO_SOCKLEVELHASH) tool: queue tables and a demo pre-fork server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the queues and counters of a listening socket of any process
    ///
    /// The socket is fetched with pidfd_getfd(2), which needs ptrace access to its owner
    /// (same user, or CAP_SYS_PTRACE). After the table: each owner's buckets, and the
    /// processes holding the socket next to those registered (seeing every holder needs root
    /// or CAP_SYS_PTRACE; the report says when some could not be seen).
    Info(InfoArgs),
    /// Turn the socket-level hash of a running server's listening socket on, off or change it
    ///
    /// The socket is taken with pidfd_getfd(2) like `info` does: the same open socket, so the
    /// change is the server's. --off turns the option off: every waiting connection moves to
    /// the normal queue (none is dropped) and every registration ends. Otherwise the option is
    /// set to --queues/--hash/--input/--max-wait; a different queue count while processes are
    /// registered is refused (EBUSY).
    Set(SetArgs),
    /// Run a pre-fork TCP server that prints which worker served which client
    ///
    /// Binds, enables SO_SOCKLEVELHASH (unless --off), forks the workers; each registers to a
    /// queue, then prints "<worker pid> <client address>" for every connection it accepts and
    /// answers the client with a line naming its pid. Stop it with Ctrl-C or SIGTERM (the
    /// workers exit with it).
    ///
    /// Signals: SIGTTIN to the server starts one more worker (it registers like the others);
    /// SIGUSR1 to a worker makes it deregister (it goes on accepting from the normal queue),
    /// SIGUSR2 makes it register again to any free queue.
    DemoServer(DemoArgs),
    /// Tell whether the running kernel has the socket-level hash
    ///
    /// Exit status: 0 supported, 1 not supported (ENOPROTOOPT), 2 the question could not be
    /// asked (no TCP socket, another error).
    Check,
    /// Print the queue each client address reaches after each registration change
    ///
    /// Computed with the kernel module's own code (the hash functions and the 256-bucket
    /// indirection table of sock-level-hash-core), starting from a listener with no process
    /// registered. Output: one "# step" line per event (buckets and clients moved), then one
    /// line per client: its address and its queue after each event ("-": the normal queue).
    Predict(PredictArgs),
}

/// Which listening socket(s): --pid/--fd, or every socket listening on --port.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["pid", "port"]))]
struct TargetArgs {
    /// Process holding the socket (with --fd)
    #[arg(long, requires = "fd")]
    pid: Option<i32>,
    /// The socket's file descriptor number in that process
    #[arg(long, requires = "pid")]
    fd: Option<i32>,
    /// Find the TCP socket(s) listening on this local port (via /proc/net/tcp{,6} and the
    /// owners' /proc/PID/fd)
    #[arg(long, conflicts_with_all = ["pid", "fd"])]
    port: Option<u16>,
}

#[derive(Args, Debug)]
struct InfoArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Print a JSON array, one object per socket (as `ip -j` does), instead of the table
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("setting").required(true).args(["off", "queues"]))]
struct SetArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Turn the option off
    #[arg(long, conflicts_with_all = ["queues", "hash", "input", "max_wait"])]
    off: bool,
    /// Priority queues: 1..=1024, or "cpus" for one per possible CPU
    #[arg(long)]
    queues: Option<Queues>,
    /// Hash function: toeplitz, src-ip-mod, xor-src, xor-src-dst or crc16 [default: the
    /// socket's current one if the option is on, else toeplitz]
    #[arg(long, value_parser = parse_hash_fn)]
    hash: Option<HashFn>,
    /// What the hash covers: client (persistent per client), client-server or four-tuple
    /// [default: the socket's current input if the option is on, else client]
    #[arg(long, value_parser = parse_hash_input)]
    input: Option<HashInput>,
    /// Bounded wait in milliseconds, 1..=60000: a connection its owner has not accepted after
    /// this long moves to the normal queue, a queue holds at most its share of the backlog
    /// (the rest goes to the normal queue), and an owner that lets two connections in a row
    /// wait this long goes on standby until its next accept(); 0 or "strict": no wait or share
    /// limit and no standby, connections wait for their owner as long as it lives [default:
    /// the socket's current wait if the option is on, else 200]
    #[arg(long, value_name = "MS")]
    max_wait: Option<MaxWait>,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// TCP port to listen on (0: any free port; the one chosen is printed)
    #[arg(long)]
    port: u16,
    /// Number of worker processes
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_QUEUES)))]
    workers: u32,
    /// Local address to bind
    #[arg(long, default_value = "0.0.0.0")]
    address: IpAddr,
    /// Priority queues: 1..=1024, or "cpus" for one per possible CPU [default: the number of
    /// workers]
    #[arg(long)]
    queues: Option<Queues>,
    /// Hash function: toeplitz, src-ip-mod, xor-src, xor-src-dst or crc16
    #[arg(long, default_value = "toeplitz", value_parser = parse_hash_fn)]
    hash: HashFn,
    /// What the hash covers: client (persistent per client), client-server or four-tuple
    #[arg(long, default_value = "client", value_parser = parse_hash_input)]
    input: HashInput,
    /// Bounded wait in milliseconds, 1..=60000: a connection its owner has not accepted after
    /// this long moves to the normal queue, a queue holds at most its share of the backlog
    /// (the rest goes to the normal queue), and an owner that lets two connections in a row
    /// wait this long goes on standby until its next accept(); 0 or "strict": no wait or share
    /// limit and no standby, connections wait for their owner as long as it lives
    #[arg(long, value_name = "MS", default_value = "200")]
    max_wait: MaxWait,
    /// Do not enable SO_SOCKLEVELHASH: a plain pre-fork server, for comparison
    #[arg(long, conflicts_with = "max_wait")]
    off: bool,
    /// Serve without the option when the kernel does not support it (otherwise: exit 1)
    #[arg(long)]
    allow_unsupported: bool,
    /// Workers block in accept(2) (the default)
    #[arg(long, conflicts_with = "epoll")]
    blocking: bool,
    /// Workers wait in epoll_wait(2) on a non-blocking socket, then accept until EAGAIN
    #[arg(long)]
    epoll: bool,
    /// Start a new worker in place of every worker that dies (the new one registers to any
    /// free queue)
    #[arg(long)]
    respawn: bool,
    /// Append the time of each accept (CLOCK_MONOTONIC, seconds) to its stdout line
    #[arg(long)]
    accept_times: bool,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// The listener's queue count
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_QUEUES)))]
    queues: u32,
    /// Hash function: toeplitz, src-ip-mod, xor-src, xor-src-dst or crc16
    #[arg(long, default_value = "toeplitz", value_parser = parse_hash_fn)]
    hash: HashFn,
    /// What the hash covers: client or client-server (four-tuple has no per-client queue)
    #[arg(long, default_value = "client", value_parser = parse_hash_input)]
    input: HashInput,
    /// The listener's address as the clients reach it (hashed by xor-src-dst and by the
    /// client-server input)
    #[arg(long)]
    server: Option<IpAddr>,
    /// Comma-separated registration changes, in order: "reg N" (a process registers to queue
    /// N), "reg any" (to the lowest free queue, as the kernel picks), "dereg N" (the owner of
    /// queue N deregisters or exits)
    #[arg(long)]
    events: String,
    /// File of client addresses, one per line ("-": standard input); IPv4-mapped IPv6
    /// addresses are hashed as IPv4, as the kernel does for v4 clients of a dual-stack listener
    #[arg(long)]
    clients: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Info(args) => info(&args),
        Command::Set(args) => set(&args),
        Command::DemoServer(args) => demo::run(&args),
        Command::Check => check(),
        Command::Predict(args) => predict(&args),
    }
}

fn predict(args: &PredictArgs) -> ExitCode {
    let run = || -> Result<String, String> {
        let text = if args.clients.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
        } else {
            std::fs::read_to_string(&args.clients)
                .map_err(|e| format!("{}: {e}", args.clients.display()))?
        };
        let clients = predict::parse_clients(&text)?;
        let events = predict::Event::parse_list(&args.events)?;
        let hashing = predict::Hashing {
            hash: args.hash,
            input: args.input,
            server: args.server,
        };
        let steps = predict::predict(args.queues as usize, &hashing, &events, &clients)?;
        Ok(predict::format_prediction(&clients, &steps))
    };
    match run() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("slh predict: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The sockets TARGET names, or the message saying why there are none.
fn targets(args: &TargetArgs) -> Result<Vec<procnet::Target>, String> {
    match (args.pid, args.fd, args.port) {
        (Some(pid), Some(fd), _) => Ok(vec![procnet::Target {
            pid,
            fd,
            local: None,
        }]),
        (_, _, Some(port)) => match procnet::listening_sockets(port) {
            Ok(targets) if targets.is_empty() => Err(format!(
                "no process holds a TCP socket listening on port {port}"
            )),
            Ok(targets) => Ok(targets),
            Err(error) => Err(format!("scanning /proc for port {port}: {error}")),
        },
        // clap's group makes one of the two forms required.
        _ => unreachable!("clap requires --pid/--fd or --port"),
    }
}

fn info(args: &InfoArgs) -> ExitCode {
    let targets = match targets(&args.target) {
        Ok(targets) => targets,
        Err(message) => {
            eprintln!("slh info: {message}");
            if args.json {
                println!("[]");
            }
            return ExitCode::FAILURE;
        }
    };
    let mut status = ExitCode::SUCCESS;
    let mut reports = Vec::new();
    for target in &targets {
        match report::gather(target) {
            Ok(report) if args.json => reports.push(report::to_json(&report)),
            Ok(report) => print!("{}", report::format_text(&report)),
            Err(message) => {
                eprintln!("slh info: {message}");
                status = ExitCode::FAILURE;
            }
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(reports));
    }
    status
}

fn set(args: &SetArgs) -> ExitCode {
    let targets = match targets(&args.target) {
        Ok(targets) => targets,
        Err(message) => {
            eprintln!("slh set: {message}");
            return ExitCode::FAILURE;
        }
    };
    let change = args.queues.map(|queues| report::Change {
        queues,
        hash: args.hash,
        input: args.input,
        max_wait: args.max_wait,
    });
    let mut status = ExitCode::SUCCESS;
    for target in &targets {
        match report::set(target, change) {
            Ok(done) => println!("{done}"),
            Err(message) => {
                eprintln!("slh set: {message}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

/// `slh check`'s exit statuses.
const CHECK_SUPPORTED: u8 = 0;
const CHECK_UNSUPPORTED: u8 = 1;
const CHECK_ERROR: u8 = 2;

fn check() -> ExitCode {
    use slh::SocketLevelHash;
    let answer = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|error| format!("cannot create a TCP socket: {error}"))
        .map(|socket| socket.sock_level_hash_queues());
    let (status, stdout, stderr) = check_verdict(answer);
    if let Some(line) = stdout {
        println!("{line}");
    }
    if let Some(line) = stderr {
        eprintln!("slh check: {line}");
    }
    ExitCode::from(status)
}

/// `slh check`'s exit status and its line for stdout or stderr, from the probe's answer (or
/// why there was no probe).
fn check_verdict(
    answer: Result<Result<u32, slh::Error>, String>,
) -> (u8, Option<String>, Option<String>) {
    match answer {
        Ok(Ok(_)) => (
            CHECK_SUPPORTED,
            Some("socket-level hash: supported by this kernel".into()),
            None,
        ),
        Ok(Err(error)) if error.is_unsupported() => (
            CHECK_UNSUPPORTED,
            Some(format!("socket-level hash: not supported: {error}")),
            None,
        ),
        Ok(Err(error)) => (CHECK_ERROR, None, Some(format!("cannot tell: {error}"))),
        Err(message) => (CHECK_ERROR, None, Some(message)),
    }
}

#[cfg(test)]
mod tests;
