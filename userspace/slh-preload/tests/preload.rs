// SPDX-License-Identifier: MIT OR Apache-2.0
//! The shim loaded into real programs (Python servers, a shell) on the build host's stock
//! kernel: enabling fails there, and the programs must run exactly as without the shim.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The shared object cargo built for this test run, next to the test binary's directory.
fn shim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [
        deps.join("libslh_preload.so"),
        deps.parent().unwrap().join("libslh_preload.so"),
    ];
    candidates
        .iter()
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("libslh_preload.so not built; looked at {candidates:?}"))
        .clone()
}

fn python() -> Command {
    // The distribution's interpreter starts fastest (no version-manager wrapper); isolated
    // mode without site packages keeps the environment out of the test.
    let program = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut command = Command::new(program);
    command.args(["-I", "-S"]);
    command
}

/// A pre-fork server as such servers are written: the parent listens, forks workers that
/// wait on the listen socket (blocking accept, select, poll or epoll) and answer with their
/// pid. The parent prints the port, then waits until it is killed.
const PREFORK_SERVER: &str = r#"
import os, select, socket, sys
mode, workers = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(64)
if mode != "accept":
    s.setblocking(False)
sys.stdout.write("%d\n" % s.getsockname()[1])
sys.stdout.flush()
for _ in range(workers):
    if os.fork() == 0:
        if mode == "epoll":
            waiter = select.epoll()
            waiter.register(s.fileno(), select.EPOLLIN)
        elif mode == "poll":
            waiter = select.poll()
            waiter.register(s.fileno(), select.POLLIN)
        while True:
            if mode == "select":
                select.select([s], [], [])
            elif mode != "accept":
                waiter.poll()
            try:
                c, _ = s.accept()
            except BlockingIOError:
                continue
            c.sendall(b"worker %d\n" % os.getpid())
            c.close()
os.wait()
"#;

/// A server started in its own process group, killed with its workers when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(mode: &str, workers: u32, env: &[(&str, &str)]) -> Server {
        let mut command = python();
        command
            .args(["-c", PREFORK_SERVER, mode, &workers.to_string()])
            .env("LD_PRELOAD", shim())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for name in [
            "SLH_DEBUG",
            "SLH_DISABLE",
            "SLH_PORTS",
            "SLH_QUEUES",
            "SLH_HASH",
            "SLH_INPUT",
        ] {
            if !env.iter().any(|(n, _)| *n == name) {
                command.env_remove(name);
            }
        }
        let mut child = command.spawn().expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        match line.trim().parse() {
            Ok(port) => Server { child, port },
            Err(_) => {
                let _ = child.kill();
                let output = child.wait_with_output().unwrap();
                panic!(
                    "server printed {line:?}; stderr: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Connects `n` times; every answer must come from a worker (a child of the server).
    fn check_serves(&self, n: usize) {
        for _ in 0..n {
            let mut stream = TcpStream::connect_timeout(&self.addr(), TIMEOUT).expect("connect");
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("answer");
            let pid: u32 = answer
                .strip_prefix("worker ")
                .and_then(|pid| pid.trim().parse().ok())
                .unwrap_or_else(|| panic!("unexpected answer {answer:?}"));
            assert_ne!(pid, self.child.id());
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let ppid: u32 = stat[stat.rfind(')').unwrap() + 2..]
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(ppid, self.child.id(), "answered by a non-worker");
        }
    }

    /// Kills the server and its workers; returns what it wrote to stderr.
    fn stop(mut self) -> String {
        let group = self.child.id() as i32;
        // SAFETY: signals the process group this test created for the server.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let mut stderr = String::new();
        // Every writer is dead: read to the end.
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let _ = self.child.wait();
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: as in `stop`.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

fn run_python(script: &str, env: &[(&str, &str)]) -> Output {
    let output = python()
        .args(["-c", script])
        .env("LD_PRELOAD", shim())
        .env_remove("SLH_DEBUG")
        .envs(env.iter().copied())
        .output()
        .expect("run python3");
    assert!(output.status.success(), "{output:?}");
    output
}

/// Whether the running kernel has the socket-level hash (`getsockopt(SO_SOCKLEVELHASH)`
/// answers rather than failing with `ENOPROTOOPT`).
fn kernel_has_the_feature() -> bool {
    use slh::SocketLevelHash;
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.sock_level_hash_queues().is_ok()
}

/// True (after saying why) on a kernel with the feature, for tests of the shim on a kernel
/// without it (they expect the kernel's ENOPROTOOPT in the debug log).
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
fn unmodified_prefork_servers_run_unchanged_and_silent() {
    for mode in ["accept", "select", "poll", "epoll"] {
        let server = Server::start(mode, 2, &[]);
        server.check_serves(4);
        let stderr = server.stop();
        assert_eq!(stderr, "", "{mode}: the shim must log nothing unless asked");
    }
    // A program without sockets is untouched as well.
    let output = Command::new("sh")
        .args(["-c", "echo unchanged"])
        .env("LD_PRELOAD", shim())
        .output()
        .unwrap();
    assert_eq!(
        (output.stdout.as_slice(), output.stderr.as_slice()),
        (&b"unchanged\n"[..], &b""[..])
    );
}

#[test]
fn debug_logs_that_enabling_failed_with_enoprotoopt() {
    if skip_on_a_kernel_with_the_feature("debug_logs_that_enabling_failed_with_enoprotoopt") {
        return;
    }
    let server = Server::start("accept", 2, &[("SLH_DEBUG", "1")]);
    server.check_serves(3);
    let port = server.port;
    let stderr = server.stop();
    let expected = format!(" (127.0.0.1:{port}): SO_SOCKLEVELHASH not enabled: ");
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in {stderr:?}"
    );
    assert!(stderr.contains("ENOPROTOOPT"), "{stderr}");
    assert!(stderr.contains("the program runs without it"), "{stderr}");
    // One listen, one line: nothing was tracked, so the workers did not try to register.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("slh-preload["), "{stderr}");
}

#[test]
fn slh_ports_limits_the_shim_to_the_listed_ports() {
    if skip_on_a_kernel_with_the_feature("slh_ports_limits_the_shim_to_the_listed_ports") {
        return;
    }
    // The server's port is chosen by the kernel from the ephemeral range (above 1023).
    let server = Server::start("poll", 1, &[("SLH_DEBUG", "1"), ("SLH_PORTS", "1-1023")]);
    server.check_serves(2);
    let port = server.port;
    let stderr = server.stop();
    assert!(
        stderr.contains(&format!("port {port} not in SLH_PORTS, left alone")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ENOPROTOOPT"),
        "must not even try: {stderr}"
    );

    let server = Server::start(
        "poll",
        1,
        &[("SLH_DEBUG", "1"), ("SLH_PORTS", "80, 1024-65535")],
    );
    server.check_serves(2);
    let stderr = server.stop();
    assert!(
        stderr.contains("ENOPROTOOPT"),
        "an allowed port is tried: {stderr}"
    );
}

#[test]
fn slh_disable_turns_everything_off() {
    let server = Server::start("select", 1, &[("SLH_DISABLE", "1"), ("SLH_DEBUG", "1")]);
    server.check_serves(2);
    assert_eq!(server.stop(), "");
}

#[test]
fn invalid_settings_leave_the_program_alone() {
    let server = Server::start("epoll", 1, &[("SLH_QUEUES", "0"), ("SLH_DEBUG", "1")]);
    server.check_serves(2);
    let stderr = server.stop();
    assert!(
        stderr.contains("SLH_QUEUES: invalid queue count \"0\""),
        "{stderr}"
    );
    assert!(stderr.contains("doing nothing"), "{stderr}");
    assert!(!stderr.contains("ENOPROTOOPT"), "{stderr}");

    // Said whatever SLH_DEBUG is (once, on stderr and to syslog): a daemon's operator must
    // learn that the setting was ignored.
    let server = Server::start("epoll", 1, &[("SLH_HASH", "md5")]);
    server.check_serves(2);
    let stderr = server.stop();
    assert!(
        stderr.contains("SLH_HASH: unknown hash \"md5\""),
        "{stderr}"
    );
    assert_eq!(stderr.matches("doing nothing").count(), 1, "once: {stderr}");
}

/// errno after the program's own calls is what libc left, whatever the shim did in between:
/// a successful listen() keeps the errno set before it (the shim's getsockopt failed with
/// ENOPROTOOPT meanwhile), failing calls keep theirs.
#[test]
fn errno_of_the_programs_calls_is_kept() {
    const SCRIPT: &str = r#"
import ctypes, errno, socket
libc = ctypes.CDLL(None, use_errno=True)
out = []
def call(name, *args):
    ctypes.set_errno(errno.EXDEV)
    rc = getattr(libc, name)(*args)
    out.extend([rc, ctypes.get_errno()])
tcp = socket.socket()
tcp.bind(("127.0.0.1", 0))
call("listen", tcp.fileno(), 5)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
call("listen", udp.fileno(), 5)
tcp.setblocking(False)
call("accept", tcp.fileno(), None, None)
call("accept4", tcp.fileno(), None, None, 0)
print(" ".join(map(str, out)))
"#;
    let output = run_python(SCRIPT, &[("SLH_DEBUG", "1")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!(
        "0 {} -1 {} -1 {} -1 {}",
        libc::EXDEV,
        libc::EOPNOTSUPP,
        libc::EAGAIN,
        libc::EAGAIN
    );
    assert_eq!(stdout.trim(), expected);
    // The listen() above did go through the shim, which did fail in between (on a kernel
    // without the feature; with it, the shim's calls succeeded and errno is kept all the same).
    if skip_on_a_kernel_with_the_feature(
        "errno_of_the_programs_calls_is_kept: the ENOPROTOOPT part",
    ) {
        return;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ENOPROTOOPT"), "{stderr}");
}

/// The interposed calls Python does not use itself, called through ctypes on a listen socket
/// with a connection waiting: each must report it as libc does.
#[test]
fn ppoll_pselect_and_fortified_poll_pass_through() {
    const SCRIPT: &str = r#"
import ctypes, select, socket
libc = ctypes.CDLL(None, use_errno=True)
class PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]
class TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(5)
client = socket.create_connection(s.getsockname())
fd = s.fileno()
out = []
fds = (PollFd * 1)(PollFd(fd, select.POLLIN, 0))
out.append(libc.ppoll(fds, 1, ctypes.byref(TimeSpec(5, 0)), None))
out.append(fds[0].revents)
fds[0].revents = 0
out.append(libc.__poll_chk(fds, 1, 5000, ctypes.sizeof(fds)))
out.append(fds[0].revents)
fds[0].revents = 0
out.append(libc.__ppoll_chk(fds, 1, ctypes.byref(TimeSpec(5, 0)), None, ctypes.sizeof(fds)))
readfds = (ctypes.c_ulong * 16)()
readfds[fd // 64] |= 1 << (fd % 64)
out.append(libc.pselect(fd + 1, readfds, None, None, ctypes.byref(TimeSpec(5, 0)), None))
out.append(int(readfds[fd // 64] >> (fd % 64) & 1))
conn = s.accept()
out.append(libc.poll(fds, 1, 0))
print(" ".join(map(str, out)))
"#;
    let output = run_python(SCRIPT, &[]);
    let pollin = libc::POLLIN;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("1 {pollin} 1 {pollin} 1 1 1 0")
    );
    assert!(output.stderr.is_empty(), "{output:?}");
}
