// SPDX-License-Identifier: GPL-2.0
//! The `slh` binary end to end on the build host (stock kernel, traffic on 127.0.0.1 only).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const SLH: &str = env!("CARGO_BIN_EXE_slh");
const TIMEOUT: Duration = Duration::from_secs(10);

fn slh(args: &[&str]) -> Output {
    Command::new(SLH).args(args).output().expect("run slh")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_subcommand_has_help() {
    for (args, expected) in [
        (
            &["--help"][..],
            &["Usage: slh <COMMAND>", "info", "demo-server", "check"][..],
        ),
        (&["help"], &["Usage: slh <COMMAND>"]),
        (
            &["info", "--help"],
            &["Usage: slh info", "--pid", "--fd", "--port"],
        ),
        (&["help", "info"], &["Usage: slh info"]),
        (
            &["demo-server", "--help"],
            &[
                "Usage: slh demo-server",
                "--port",
                "--workers",
                "--queues",
                "--hash",
                "xor-src-dst",
                "--input",
                "four-tuple",
                "--off",
                "--allow-unsupported",
                "--blocking",
                "--epoll",
            ],
        ),
        (&["check", "--help"], &["Usage: slh check"]),
    ] {
        let output = slh(args);
        assert!(output.status.success(), "slh {args:?}: {output:?}");
        let stdout = text(&output.stdout);
        for needle in expected {
            assert!(
                stdout.contains(needle),
                "slh {args:?} lacks {needle:?}:\n{stdout}"
            );
        }
    }
    // Usage errors are not help: exit status 2, message on stderr.
    let output = slh(&["demo-server", "--port", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--workers"));
}

#[test]
fn check_says_the_host_kernel_has_no_support() {
    let output = slh(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("not supported") && stdout.contains("ENOPROTOOPT"),
        "{stdout}"
    );
}

#[test]
fn info_finds_a_listening_socket_of_another_process_by_port_and_by_fd() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let pid = std::process::id().to_string();
    let fd = listener.as_raw_fd().to_string();
    // Found through /proc and fetched with pidfd_getfd: the answer is the kernel's about this
    // socket, not a failure to find or fetch it.
    let by_port = slh(&["info", "--port", &local.port().to_string()]);
    let by_fd = slh(&["info", "--pid", &pid, "--fd", &fd]);
    for (output, label) in [
        (by_port, format!("{local} (pid {pid} fd {fd})")),
        (by_fd, format!("{local} (pid {pid} fd {fd})")),
    ] {
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(&label), "expected {label:?} in {stderr}");
        assert!(
            stderr.contains("no socket-level hash (ENOPROTOOPT)"),
            "{stderr}"
        );
    }
}

#[test]
fn info_explains_what_it_cannot_show() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let output = slh(&["info", "--port", &port.to_string()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains(&format!(
        "no process holds a TCP socket listening on port {port}"
    )));

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pid = std::process::id().to_string();
    let output = slh(&["info", "--pid", &pid, "--fd", &udp.as_raw_fd().to_string()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("not a TCP socket"),
        "{output:?}"
    );

    let output = slh(&["info", "--pid", &pid, "--fd", "999999"]);
    assert!(
        text(&output.stderr).contains("has no descriptor 999999"),
        "{output:?}"
    );
}

/// A running `slh demo-server`, killed when dropped.
struct DemoServer {
    child: Child,
    addr: SocketAddr,
    /// The "listening on ..." line.
    banner: String,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl DemoServer {
    fn start(extra: &[&str]) -> DemoServer {
        let mut child = Command::new(SLH)
            .args(["demo-server", "--address", "127.0.0.1", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start demo-server");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let mut server = DemoServer {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            banner: String::new(),
            stdout,
            stderr,
        };
        let line = server.stderr_until(|line| line.contains("listening on "));
        let addr = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        server.addr = addr
            .parse()
            .unwrap_or_else(|_| panic!("address in {line:?}"));
        server.banner = line;
        server
    }

    fn stderr_until(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("demo-server did not print the expected line; stderr so far: {seen:#?}");
    }

    /// `n` lines of stdout ("<worker pid> <client address>").
    fn served_lines(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.stdout
                    .recv_timeout(TIMEOUT)
                    .expect("a line per connection")
            })
            .collect()
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// Connects and reads the answer to its end (the worker shuts its side down); returns the
/// worker's pid, our address, and the still open connection.
fn request(addr: SocketAddr) -> (u32, SocketAddr, TcpStream) {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let pid = answer
        .strip_prefix("worker ")
        .and_then(|rest| rest.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected answer {answer:?}"));
    let local = stream.local_addr().unwrap();
    (pid, local, stream)
}

/// The parent pid and state letter of `pid`, from /proc/PID/stat (`None` once reaped).
fn parent_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Serves `batches` batches of `batch` clients; checks every answer against the server's own
/// report and that workers are children of the server; returns the distinct workers.
///
/// The clients of a batch keep their connections open until the batch is done, and a worker
/// waits (up to a second) for its client to close: so each client of a batch finds the
/// workers that served the previous ones busy, and reaches another. Connections closed at
/// once would let whichever worker is back in accept() first take the next one, and a single
/// fast worker could serve them all.
fn serve_and_check(server: &DemoServer, batches: usize, batch: usize) -> BTreeSet<u32> {
    let mut answers = Vec::new();
    for _ in 0..batches {
        let open: Vec<(u32, SocketAddr, TcpStream)> =
            (0..batch).map(|_| request(server.addr)).collect();
        answers.extend(open.into_iter().map(|(pid, addr, _)| (pid, addr)));
    }
    let mut reported = server.served_lines(answers.len());
    reported.sort();
    let mut expected: Vec<String> = answers
        .iter()
        .map(|(pid, addr)| format!("{pid} {addr}"))
        .collect();
    expected.sort();
    assert_eq!(
        reported, expected,
        "stdout lines must match what the clients were told"
    );
    let workers: BTreeSet<u32> = answers.iter().map(|(pid, _)| *pid).collect();
    for &worker in &workers {
        assert_ne!(worker, server.child.id(), "the parent must not serve");
        let (ppid, _) = parent_and_state(worker).expect("worker alive");
        assert_eq!(
            ppid,
            server.child.id(),
            "worker {worker} is not a child of the server"
        );
    }
    workers
}

fn assert_workers_exit_with_the_server(mut server: DemoServer, workers: &BTreeSet<u32>) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    for &worker in workers {
        // Gone, or a zombie waiting for its new parent to reap it.
        while matches!(parent_and_state(worker), Some((_, state)) if state != 'Z' && state != 'X') {
            assert!(
                Instant::now() < deadline,
                "worker {worker} outlived the server"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn demo_server_off_serves_clients_from_several_workers() {
    let mut server = DemoServer::start(&["--workers", "3", "--off"]);
    for _ in 0..3 {
        server.stderr_until(|line| line.ends_with(": accepting (not registered)"));
    }
    let workers = serve_and_check(&server, 4, 3);
    assert_eq!(workers.len(), 3, "only {workers:?} served");
    assert_workers_exit_with_the_server(server, &workers);
}

#[test]
fn demo_server_off_with_epoll_serves_clients() {
    let server = DemoServer::start(&["--workers", "2", "--off", "--epoll"]);
    let workers = serve_and_check(&server, 4, 2);
    assert_eq!(workers.len(), 2, "only {workers:?} served");
    assert_workers_exit_with_the_server(server, &workers);
}

#[test]
fn demo_server_refuses_to_run_without_kernel_support_unless_allowed() {
    let output = slh(&[
        "demo-server",
        "--address",
        "127.0.0.1",
        "--port",
        "0",
        "--workers",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("SO_SOCKLEVELHASH is unsupported by this kernel"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-unsupported"), "{stderr}");
    assert!(output.stdout.is_empty());

    let server = DemoServer::start(&["--workers", "1", "--allow-unsupported", "--hash", "crc16"]);
    assert!(
        server
            .banner
            .contains("serving without it (--allow-unsupported)"),
        "{}",
        server.banner
    );
    let workers = serve_and_check(&server, 2, 1);
    assert_eq!(workers.len(), 1);
}
