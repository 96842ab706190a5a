"""The socket-level hash uapi from Python, for the qemu-tests' scripts (userspace/README.md is
the reference): option numbers, the structs, and taking another process's listen socket.

Imported by slh_client.py, slh_errno.py and slh_parked.py (which add this directory to
sys.path themselves: `python3 -I` does not).
"""
import ctypes
import os
import socket
import struct

SO_SOCKLEVELHASH = 81
SO_SOCKADDLSPH = 82
SO_SOCKLEVELHASH_INFO = 83
SOL_SOCKET = socket.SOL_SOCKET

REGISTER_ANY = -1
DEREGISTER = -2

HEADER = struct.Struct("=IIIIQQ")  # struct sock_level_hash_info, 32 bytes
ENTRY = struct.Struct("=iIQQQQ")  # struct sock_level_hash_queue, 40 bytes
CONFIG = struct.Struct("=iIII")  # struct sock_level_hash, 16 bytes
assert (HEADER.size, ENTRY.size, CONFIG.size) == (32, 40, 16)

SYS_PIDFD_GETFD = 438  # x86_64 and the generic table


def config_bytes(queues, hash_fn=0, hash_input=0, flags=0):
    return CONFIG.pack(queues, hash_fn, hash_input, flags)


def set_int(sock, option, value):
    sock.setsockopt(SOL_SOCKET, option, value)


def get_int(sock, option):
    return sock.getsockopt(SOL_SOCKET, option)


def info(sock, length=1024):
    """(header dict, [entry dict]) of SO_SOCKLEVELHASH_INFO with a buffer of `length` bytes
    (Python's getsockopt takes at most 1,024: the header and 24 queues, enough for the tests);
    the header's `length` is how many bytes the kernel wrote."""
    raw = sock.getsockopt(SOL_SOCKET, SO_SOCKLEVELHASH_INFO, length)
    queues, hash_fn, hash_input, registered, normal_queued, normal_accepted = HEADER.unpack_from(raw)
    header = dict(queues=queues, hash=hash_fn, input=hash_input, registered=registered,
                  normal_queued=normal_queued, normal_accepted=normal_accepted, length=len(raw))
    rows = []
    for offset in range(HEADER.size, len(raw) - ENTRY.size + 1, ENTRY.size):
        owner, depth, queued, accepted, moved, wakeups = ENTRY.unpack_from(raw, offset)
        rows.append(dict(owner_pid=owner, depth=depth, queued=queued, accepted=accepted,
                         moved=moved, wakeups=wakeups))
    return header, rows


_libc = ctypes.CDLL(None, use_errno=True)


def pidfd_getfd(pid, fd):
    """A duplicate of descriptor `fd` of process `pid`, as an int we own."""
    pidfd = os.pidfd_open(pid)
    try:
        dup = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if dup < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"pidfd_getfd({pid}, {fd}): {os.strerror(err)}")
        return dup
    finally:
        os.close(pidfd)


def socket_fds(pid):
    """{socket inode: descriptor number} of the sockets process `pid` holds open."""
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found[link[len("socket:[") : -1]] = int(fd)
    return found


def proc_net_tcp(pid):
    """(fields, is_v6) of every socket line of /proc/PID/net/tcp and tcp6 (PID's namespace)."""
    for name, v6 in (("tcp", False), ("tcp6", True)):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 10:
                yield fields, v6


def listener_of(pid, port):
    """Process `pid`'s socket listening on TCP `port`, duplicated into a socket object."""
    fds = socket_fds(pid)
    for fields, _ in proc_net_tcp(pid):
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in fds:
            return socket.socket(fileno=pidfd_getfd(pid, fds[fields[9]]))
    raise RuntimeError(f"process {pid} holds no socket listening on port {port}")
