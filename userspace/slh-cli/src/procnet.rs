// SPDX-License-Identifier: MIT OR Apache-2.0
//! Finding the process and descriptor behind a listening port: `/proc/net/tcp{,6}` maps the
//! port to a socket inode, `/proc/PID/fd/*` links (`socket:[INODE]`) map the inode to holders.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::RawFd;

/// TCP_LISTEN in the `st` column.
const TCP_LISTEN: &str = "0A";

/// A socket to inspect: descriptor `fd` of process `pid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub pid: i32,
    pub fd: i32,
    /// The listening address, when known from /proc/net.
    pub local: Option<SocketAddr>,
}

impl Target {
    pub fn label(&self) -> String {
        match self.local {
            Some(local) => format!("{local} (pid {} fd {})", self.pid, self.fd),
            None => format!("pid {} fd {}", self.pid, self.fd),
        }
    }
}

/// A listening socket from /proc/net/tcp{,6}.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listening {
    pub local: SocketAddr,
    pub inode: u64,
}

/// Parses /proc/net/tcp (`v6 == false`) or /proc/net/tcp6 text; keeps listening sockets only.
pub fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<Listening> {
    text.lines()
        .skip(1) // column titles
        .filter_map(|line| {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != TCP_LISTEN {
                return None;
            }
            let local = parse_address(fields[1], v6)?;
            let inode = fields[9].parse().ok()?;
            Some(Listening { local, inode })
        })
        .collect()
}

/// `HEXADDR:HEXPORT`. The kernel prints the address as 32-bit words in host byte order
/// (`%08X` of the in-memory `__be32`s), the port as a number.
fn parse_address(text: &str, v6: bool) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words_expected = if v6 { 4 } else { 1 };
    if addr.len() != 8 * words_expected {
        return None;
    }
    let mut bytes = Vec::with_capacity(4 * words_expected);
    for i in 0..words_expected {
        let word = u32::from_str_radix(&addr[8 * i..8 * i + 8], 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?))
    } else {
        IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?))
    };
    Some(SocketAddr::new(ip, port))
}

/// The inode number of a `/proc/PID/fd/N` link target `socket:[INODE]`.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// What a scan of `/proc/*/fd` found.
struct Scan {
    /// Every (pid, fd, inode) whose descriptor is one of the inodes, in pid order.
    found: Vec<(i32, i32, u64)>,
    /// Processes whose descriptors we may not read (`EACCES`: another user's process, and we
    /// are neither root nor `CAP_SYS_PTRACE`).
    unreadable: usize,
}

/// Scans every process's descriptors for `inodes`. Processes that vanish are skipped, those
/// whose descriptors we may not read are counted.
fn scan(inodes: &[u64]) -> io::Result<Scan> {
    let mut pids: Vec<i32> = fs::read_dir("/proc")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut scan = Scan {
        found: Vec::new(),
        unreadable: 0,
    };
    for pid in pids {
        let fds = match fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(fds) => fds,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                scan.unreadable += 1;
                continue;
            }
            Err(_) => continue,
        };
        for entry in fds.flatten() {
            let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let Ok(link) = fs::read_link(entry.path()) else {
                continue;
            };
            if let Some(inode) = link.to_str().and_then(socket_inode) {
                if inodes.contains(&inode) {
                    scan.found.push((pid, fd, inode));
                }
            }
        }
    }
    Ok(scan)
}

/// The processes that hold one socket, as far as `/proc` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holders {
    /// Every process with a descriptor of the socket, ascending.
    pub pids: Vec<i32>,
    /// Processes whose descriptors could not be read (no privilege): they may hold it too.
    pub unreadable: usize,
}

/// The processes holding the socket that `fd` (a descriptor of this process) is, except
/// `except` (this process, whose `fd` is only a duplicate taken to look at it).
pub fn holders_of(fd: RawFd, except: Option<i32>) -> io::Result<Holders> {
    let link = fs::read_link(format!("/proc/self/fd/{fd}"))?;
    let inode = link.to_str().and_then(socket_inode).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is no socket ({})", link.display()),
        )
    })?;
    let scan = scan(&[inode])?;
    let mut pids: Vec<i32> = scan
        .found
        .iter()
        .map(|&(pid, _, _)| pid)
        .filter(|&pid| Some(pid) != except)
        .collect();
    pids.dedup();
    Ok(Holders {
        pids,
        unreadable: scan.unreadable,
    })
}

/// The sockets of `listening` on `port`, each once. A read of /proc/net/tcp while sockets
/// come and go may show one twice: the kernel resumes each chunk of the file by its position
/// in a hash bucket, and an insertion before that position repeats an entry already shown
/// (a removal there skips one: a socket may also be missing from one read).
fn on_port(mut listening: Vec<Listening>, port: u16) -> Vec<Listening> {
    listening.retain(|l| l.local.port() == port);
    let mut seen = Vec::with_capacity(listening.len());
    listening.retain(|l| {
        let first = !seen.contains(&l.inode);
        seen.push(l.inode);
        first
    });
    listening
}

/// The TCP sockets listening on `port`, each with the first process (lowest pid) holding it:
/// a pre-fork server's workers all share the one socket, any of them will do.
pub fn listening_sockets(port: u16) -> io::Result<Vec<Target>> {
    let mut listening = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        match fs::read_to_string(path) {
            Ok(text) => listening.extend(parse_proc_net_tcp(&text, v6)),
            // No IPv6 in this kernel: no tcp6 file.
            Err(error) if v6 && error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io::Error::new(error.kind(), format!("{path}: {error}"))),
        }
    }
    let listening = on_port(listening, port);
    let inodes: Vec<u64> = listening.iter().map(|l| l.inode).collect();
    if inodes.is_empty() {
        return Ok(Vec::new());
    }
    let holders = scan(&inodes)?.found;
    Ok(listening
        .iter()
        .filter_map(|l| {
            let &(pid, fd, _) = holders.iter().find(|h| h.2 == l.inode)?;
            Some(Target {
                pid,
                fd,
                local: Some(l.local),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real lines (little-endian host): 127.0.0.1:8080 and 0.0.0.0:22 listening, one
    // established connection, and in tcp6 [::]:8080 and [::1]:631.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41203 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D3C2 01 00000000:00000000 00:00000000 00000000     0        0 41999 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 52000 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 52001 1 0000000000000000 100 0 0 10 0
";

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_listening_sockets_only() {
        let v4 = parse_proc_net_tcp(TCP, false);
        assert_eq!(
            v4,
            vec![
                Listening {
                    local: "127.0.0.1:8080".parse().unwrap(),
                    inode: 41203
                },
                Listening {
                    local: "0.0.0.0:22".parse().unwrap(),
                    inode: 1234
                },
            ]
        );
        let v6 = parse_proc_net_tcp(TCP6, true);
        assert_eq!(v6[0].local, "[::]:8080".parse().unwrap());
        assert_eq!(v6[1].local, "[::1]:631".parse().unwrap());
        assert_eq!(v6[1].inode, 52001);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn a_socket_listed_twice_counts_once() {
        let first_line = TCP.lines().nth(1).unwrap();
        let repeated = format!("{TCP}{first_line}\n");
        let listening = parse_proc_net_tcp(&repeated, false);
        assert_eq!(listening.len(), 3);
        assert_eq!(
            on_port(listening, 8080),
            vec![Listening {
                local: "127.0.0.1:8080".parse().unwrap(),
                inode: 41203
            }]
        );
    }

    #[test]
    fn ignores_garbage() {
        assert!(parse_proc_net_tcp(
            "title\nnonsense line\n   0: zz:1F90 x 0A a b c d e f\n",
            false
        )
        .is_empty());
        // A v6 address in the v4 file is not silently truncated.
        assert!(parse_proc_net_tcp(TCP6, false).is_empty());
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode("socket:[41203]"), Some(41203));
        assert_eq!(socket_inode("pipe:[41203]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn finds_a_socket_of_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        use std::os::fd::AsRawFd;
        let me = Target {
            pid: std::process::id() as i32,
            fd: listener.as_raw_fd(),
            local: Some(listener.local_addr().unwrap()),
        };
        // Only this process's sockets count: once ours is closed, another process (or a test
        // running beside this one) may listen on the same port number.
        let pid = me.pid;
        let ours = |targets: Vec<Target>| -> Vec<Target> {
            targets.into_iter().filter(|t| t.pid == pid).collect()
        };
        // A read while other tests close listeners may skip ours (see `on_port`): read again,
        // a few times. On failure, say what was seen.
        let mut seen = listening_sockets(port);
        for _ in 0..4 {
            if ours(seen.as_ref().unwrap().clone()) == vec![me.clone()] {
                break;
            }
            seen = listening_sockets(port);
        }
        assert_eq!(
            ours(seen.as_ref().unwrap().clone()),
            vec![me],
            "port {port}: {seen:?}"
        );
        drop(listener);
        let seen = listening_sockets(port);
        assert_eq!(
            ours(seen.as_ref().unwrap().clone()),
            vec![],
            "port {port}: {seen:?}"
        );
    }

    #[test]
    fn finds_the_holders_of_a_socket_but_not_the_one_left_out() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let me = std::process::id() as i32;
        let holders = holders_of(listener.as_raw_fd(), None).unwrap();
        assert_eq!(holders.pids, vec![me]);
        // Left out (slh's own duplicate): nobody else holds it.
        assert_eq!(
            holders_of(listener.as_raw_fd(), Some(me)).unwrap().pids,
            Vec::<i32>::new()
        );
        // Two descriptors of one process: one holder.
        let dup = listener.try_clone().unwrap();
        assert_eq!(holders_of(dup.as_raw_fd(), None).unwrap().pids, vec![me]);
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let error = holders_of(file.as_raw_fd(), None).unwrap_err();
        assert!(error.to_string().contains("is no socket"), "{error}");
    }
}
