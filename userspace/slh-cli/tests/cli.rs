// SPDX-License-Identifier: MIT OR Apache-2.0
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

/// Whether the running kernel has the socket-level hash: `getsockopt(SO_SOCKLEVELHASH)`
/// answers rather than failing with `ENOPROTOOPT`.
fn kernel_has_the_feature() -> bool {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut value = 0i32;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` is a writable int of `len` bytes; the socket is open.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            slh::uapi::SOL_SOCKET,
            slh::uapi::SO_SOCKLEVELHASH,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    };
    rc == 0
}

/// True (after saying why) on a kernel with the feature, for tests about a kernel without it.
fn skip_on_a_kernel_with_the_feature(test: &str) -> bool {
    let skip = kernel_has_the_feature();
    if skip {
        eprintln!(
            "SKIP {test}: this kernel has the socket-level hash; the test is about one without it"
        );
    }
    skip
}

#[test]
fn every_subcommand_has_help() {
    for (args, expected) in [
        (
            &["--help"][..],
            &[
                "Usage: slh <COMMAND>",
                "info",
                "demo-server",
                "check",
                "predict",
                "set",
            ][..],
        ),
        (
            &["set", "--help"],
            &[
                "Usage: slh set",
                "--pid",
                "--port",
                "--off",
                "--queues",
                "--hash",
                "--max-wait",
                "EBUSY",
            ],
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
                "--max-wait",
                "--off",
                "--allow-unsupported",
                "--blocking",
                "--epoll",
                "--respawn",
                "--accept-times",
                "SIGTTIN",
                "SIGUSR1",
            ],
        ),
        (&["check", "--help"], &["Usage: slh check"]),
        (
            &["predict", "--help"],
            &[
                "Usage: slh predict",
                "--queues",
                "--events",
                "--clients",
                "--server",
                "reg any",
            ],
        ),
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
    if kernel_has_the_feature() {
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        assert!(text(&output.stdout).contains("supported by this kernel"));
        eprintln!("SKIP the unsupported case of check: this kernel has the socket-level hash");
        return;
    }
    // 1: not supported (0 supported, 2 could not tell).
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("not supported") && stdout.contains("ENOPROTOOPT"),
        "{stdout}"
    );
}

#[test]
fn info_finds_a_listening_socket_of_another_process_by_port_and_by_fd() {
    if skip_on_a_kernel_with_the_feature("info_finds_a_listening_socket_of_another_process") {
        return;
    }
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
fn info_json_is_an_array_even_when_a_socket_fails() {
    if skip_on_a_kernel_with_the_feature("info_json_is_an_array_even_when_a_socket_fails") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let output = slh(&["info", "--port", &port, "--json"]);
    // The socket's error on stderr, as in the table form; stdout stays parseable.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(text(&output.stdout), "[]\n");
    assert!(text(&output.stderr).contains("ENOPROTOOPT"), "{output:?}");
    drop(listener);
    let free = slh(&["info", "--port", &port, "--json"]);
    assert_eq!(free.status.code(), Some(1), "{free:?}");
    assert_eq!(text(&free.stdout), "[]\n");
}

#[test]
fn set_names_the_socket_and_the_missing_kernel_support() {
    if skip_on_a_kernel_with_the_feature("set_names_the_socket_and_the_missing_kernel_support") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let pid = std::process::id().to_string();
    let fd = listener.as_raw_fd().to_string();
    for args in [
        &["set", "--port", &local.port().to_string(), "--queues", "8"][..],
        &["set", "--pid", &pid, "--fd", &fd, "--off"],
    ] {
        let output = slh(args);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("slh set: {local} (pid {pid} fd {fd})")),
            "{stderr}"
        );
        assert!(
            stderr.contains("no socket-level hash (ENOPROTOOPT)"),
            "{stderr}"
        );
    }
    let output = slh(&["set", "--port", &local.port().to_string(), "--queues", "0"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(text(&output.stderr).contains("invalid queue count"));
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

    /// The first line matching each of `wanted`, whatever order they come in (the server's
    /// and a new worker's lines, written by two processes, come in either order).
    fn stderr_until_each(&mut self, wanted: &[&dyn Fn(&str) -> bool]) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut found: Vec<Option<String>> = vec![None; wanted.len()];
        let mut seen = Vec::new();
        while found.iter().any(Option::is_none) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let Ok(line) = self.stderr.recv_timeout(left) else {
                break;
            };
            match (0..wanted.len()).find(|&i| found[i].is_none() && wanted[i](&line)) {
                Some(i) => found[i] = Some(line),
                None => seen.push(line),
            }
        }
        found
            .into_iter()
            .collect::<Option<Vec<String>>>()
            .unwrap_or_else(|| {
                panic!("demo-server did not print the expected lines; stderr so far: {seen:#?}")
            })
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
    if skip_on_a_kernel_with_the_feature("demo_server_refuses_to_run_without_kernel_support") {
        return;
    }
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

/// The worker pids a server announced on stderr ("worker PID: accepting (not registered)").
fn announced_workers(server: &mut DemoServer, n: usize) -> BTreeSet<u32> {
    (0..n)
        .map(|_| {
            let line = server.stderr_until(|line| line.ends_with(": accepting (not registered)"));
            line.strip_prefix("worker ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|pid| pid.parse().ok())
                .unwrap_or_else(|| panic!("no pid in {line:?}"))
        })
        .collect()
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a pid of a child of ours (or of its server) and a signal number.
    assert_eq!(
        unsafe { libc::kill(pid as libc::pid_t, signal) },
        0,
        "kill {pid}"
    );
}

#[test]
fn demo_server_respawn_replaces_a_killed_worker() {
    let mut server = DemoServer::start(&["--workers", "2", "--off", "--respawn"]);
    let first = announced_workers(&mut server, 2);
    let victim = *first.iter().next().unwrap();
    signal(victim, libc::SIGKILL);
    let lines = server.stderr_until_each(&[
        &|line: &str| line.contains("started worker"),
        &|line: &str| line.ends_with(": accepting (not registered)"),
    ]);
    let line = &lines[0];
    assert!(
        line.contains(&format!(
            "worker {victim} killed by signal 9; started worker "
        )),
        "{line}"
    );
    let replacement: u32 = line
        .rsplit("started worker ")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"));
    assert_eq!(
        lines[1],
        format!("worker {replacement}: accepting (not registered)")
    );
    let workers = serve_and_check(&server, 4, 2);
    let expected: BTreeSet<u32> = first
        .iter()
        .copied()
        .filter(|&pid| pid != victim)
        .chain([replacement])
        .collect();
    assert_eq!(workers, expected, "the replacement and the survivor serve");
    assert_workers_exit_with_the_server(server, &workers);
}

#[test]
fn demo_server_without_respawn_serves_on_with_the_workers_left() {
    let mut server = DemoServer::start(&["--workers", "2", "--off"]);
    let first = announced_workers(&mut server, 2);
    let victim = *first.iter().next().unwrap();
    signal(victim, libc::SIGKILL);
    server.stderr_until(|line| {
        line == format!("slh demo-server: worker {victim} killed by signal 9")
    });
    let workers = serve_and_check(&server, 2, 1);
    assert_eq!(workers.len(), 1);
    assert!(!workers.contains(&victim));
}

#[test]
fn demo_server_sigttin_starts_one_more_worker() {
    let mut server = DemoServer::start(&["--workers", "1", "--off"]);
    let first = announced_workers(&mut server, 1);
    signal(server.child.id(), libc::SIGTTIN);
    let lines = server
        .stderr_until_each(&[&|line: &str| line.ends_with("(SIGTTIN)"), &|line: &str| {
            line.ends_with(": accepting (not registered)")
        }]);
    let late_pid = lines[1]
        .strip_prefix("worker ")
        .and_then(|rest| rest.split(':').next())
        .unwrap();
    assert_eq!(
        lines[0],
        format!("slh demo-server: started worker {late_pid} (SIGTTIN)")
    );
    let late = BTreeSet::from([late_pid.parse::<u32>().unwrap()]);
    // Two batches of two held connections: both workers must serve.
    let workers = serve_and_check(&server, 2, 2);
    assert_eq!(workers, first.union(&late).copied().collect());
    assert_workers_exit_with_the_server(server, &workers);
}

#[test]
fn demo_server_registration_signals_say_the_option_is_off_and_the_worker_serves_on() {
    let mut server = DemoServer::start(&["--workers", "1", "--off"]);
    let worker = *announced_workers(&mut server, 1).iter().next().unwrap();
    for sig in [libc::SIGUSR1, libc::SIGUSR2] {
        signal(worker, sig);
        server.stderr_until(|line| {
            line == format!("worker {worker}: the option is off; nothing to (de)register")
        });
    }
    // The server ignores them (its handler acts only in workers).
    signal(server.child.id(), libc::SIGUSR1);
    let workers = serve_and_check(&server, 2, 1);
    assert_eq!(workers, BTreeSet::from([worker]));
    assert_eq!(
        parent_and_state(server.child.id()).map(|(_, s)| s != 'Z'),
        Some(true)
    );
}

fn monotonic_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

#[test]
fn demo_server_accept_times_are_monotonic_clock_readings() {
    let server = DemoServer::start(&["--workers", "1", "--off", "--accept-times"]);
    let before = monotonic_seconds();
    let (pid, local, stream) = request(server.addr);
    drop(stream);
    let after = monotonic_seconds();
    let line = server.served_lines(1).remove(0);
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 3, "{line}");
    assert_eq!(fields[0], pid.to_string());
    assert_eq!(fields[1], local.to_string());
    let (secs, micros) = fields[2].split_once('.').expect("seconds.micros");
    assert_eq!(micros.len(), 6, "{line}");
    let at: f64 = fields[2].parse().unwrap();
    assert!(secs.parse::<u64>().is_ok());
    // Microsecond resolution: allow the truncation below `before`.
    assert!(
        before - 1e-6 <= at && at <= after,
        "{before} <= {at} <= {after}"
    );
}

#[test]
fn predict_prints_each_clients_queue_after_each_event() {
    let dir = std::env::temp_dir().join(format!("slh-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clients = dir.join("clients");
    let addresses: Vec<String> = (1..=64)
        .map(|i| format!("198.18.1.{i}"))
        .chain(["::ffff:198.18.1.1".to_string(), "2001:db8::1:1".to_string()])
        .collect();
    std::fs::write(&clients, addresses.join("\n") + "\n").unwrap();
    let clients_arg = clients.to_str().unwrap();
    let output = slh(&[
        "predict",
        "--queues",
        "4",
        "--events",
        "reg any,reg any,dereg 0,reg any",
        "--clients",
        clients_arg,
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4 + addresses.len(), "{stdout}");
    assert_eq!(
        lines[0],
        "# step 1: reg any (queue 0): 256 of 256 buckets moved, 66 of 66 clients moved"
    );
    assert!(lines[1].starts_with("# step 2: reg any (queue 1): 128 of 256 buckets moved"));
    assert!(lines[2].starts_with("# step 3: dereg 0 (queue 0): 128 of 256 buckets moved"));
    // "any" takes the lowest free queue: 0 again.
    assert!(lines[3].starts_with("# step 4: reg any (queue 0): 128 of 256 buckets moved"));
    let rows: Vec<Vec<&str>> = lines[4..].iter().map(|l| l.split(' ').collect()).collect();
    for (row, address) in rows.iter().zip(&addresses) {
        assert_eq!(row[0], address);
        assert_eq!(row[1], "0", "one process owns everything");
        assert!(row[2] == "0" || row[2] == "1");
        assert_eq!(row[3], "1", "queue 0 left: all on queue 1");
    }
    // Clients hashed to queue 1 at step 2 stay there when 0 leaves.
    assert!(rows.iter().any(|row| row[2] == "1"));
    assert!(rows.iter().any(|row| row[2] == "0"));
    // The mapped address is hashed as the IPv4 address it carries.
    assert_eq!(rows[64][1..], rows[0][1..]);

    let refused = slh(&[
        "predict",
        "--queues",
        "2",
        "--events",
        "reg 0,reg 0",
        "--clients",
        clients_arg,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("event 2 (reg 0): the queue is already registered"));
    let missing = slh(&[
        "predict",
        "--queues",
        "2",
        "--events",
        "reg 0",
        "--clients",
        dir.join("absent").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("absent"));
    std::fs::remove_dir_all(&dir).unwrap();
}
