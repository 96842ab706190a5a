// SPDX-License-Identifier: MIT OR Apache-2.0
//! Taking a duplicate of another process's socket with pidfd_open(2) + pidfd_getfd(2), and
//! checking that it is a listening TCP socket.

use std::io;
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A duplicate of descriptor `fd` of process `pid`: the same open socket, so options and
/// counters read through it are the original's.
pub fn take_fd(pid: i32, fd: i32) -> Result<OwnedFd, String> {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::ESRCH) => format!("no process {pid}"),
            _ => format!("pidfd_open({pid}): {error}"),
        });
    }
    // SAFETY: `pidfd` is a descriptor we just received and own nobody else holds.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: pidfd_getfd takes descriptors and flags by value and returns a new descriptor.
    let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if dup < 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::EBADF) => format!("process {pid} has no descriptor {fd}"),
            Some(libc::EPERM) => format!(
                "pidfd_getfd: not allowed to take descriptors of process {pid} \
                 (needs ptrace access: same user, or CAP_SYS_PTRACE)"
            ),
            _ => format!("pidfd_getfd({pid}, {fd}): {error}"),
        });
    }
    // SAFETY: `dup` is a new descriptor installed in our table for us (close-on-exec set).
    Ok(unsafe { OwnedFd::from_raw_fd(dup as RawFd) })
}

fn get_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a writable int and `len` says so; `fd` is open for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Refuses anything but a listening TCP socket, in words; returns its local address.
pub fn check_listening_tcp(fd: &OwnedFd) -> Result<Option<SocketAddr>, String> {
    let domain = match get_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) {
        Ok(domain) => domain,
        Err(error) if error.raw_os_error() == Some(libc::ENOTSOCK) => {
            return Err("not a socket".into())
        }
        Err(error) => return Err(format!("getsockopt(SO_DOMAIN): {error}")),
    };
    let kind = get_int(fd, libc::SOL_SOCKET, libc::SO_TYPE).map_err(|e| e.to_string())?;
    let protocol = get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL).map_err(|e| e.to_string())?;
    if !matches!(domain, libc::AF_INET | libc::AF_INET6)
        || kind != libc::SOCK_STREAM
        || protocol != libc::IPPROTO_TCP
    {
        return Err("not a TCP socket".into());
    }
    if get_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN).map_err(|e| e.to_string())? == 0 {
        return Err("the TCP socket is not listening".into());
    }
    Ok(local_addr(fd))
}

fn local_addr(fd: &OwnedFd) -> Option<SocketAddr> {
    // A borrowed std listener reads the address for us; ManuallyDrop keeps it from closing
    // the descriptor, which `fd` owns.
    // SAFETY: `fd` stays open for the lifetime of `listener`, which never closes it.
    let listener =
        std::mem::ManuallyDrop::new(unsafe { std::net::TcpListener::from_raw_fd(fd.as_raw_fd()) });
    listener.local_addr().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn takes_a_listening_socket_of_a_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = take_fd(std::process::id() as i32, listener.as_raw_fd()).unwrap();
        assert_ne!(taken.as_raw_fd(), listener.as_raw_fd());
        assert_eq!(
            check_listening_tcp(&taken).unwrap(),
            Some(listener.local_addr().unwrap())
        );
    }

    #[test]
    fn refuses_what_is_not_a_listening_tcp_socket() {
        let me = std::process::id() as i32;
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let taken = take_fd(me, udp.as_raw_fd()).unwrap();
        assert_eq!(check_listening_tcp(&taken).unwrap_err(), "not a TCP socket");
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let taken = take_fd(me, file.as_raw_fd()).unwrap();
        assert_eq!(check_listening_tcp(&taken).unwrap_err(), "not a socket");
        assert!(take_fd(me, 1_000_000)
            .unwrap_err()
            .contains("has no descriptor"));
        assert!(take_fd(i32::MAX, 0).unwrap_err().contains("no process"));
    }
}
