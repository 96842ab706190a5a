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

MAX_WAIT_MS_MAX = 60000  # SOCK_LEVEL_HASH_MAX_WAIT_MS_MAX
MAX_WAIT_MS_DEFAULT = 200  # SOCK_LEVEL_HASH_MAX_WAIT_MS_DEFAULT (int form, 16-byte struct)

# struct sock_level_hash_info, 40 bytes: queues, hash, input, registered, normal_queued,
# normal_accepted, max_wait_ms, share (0: no limit, the strict mode)
HEADER = struct.Struct("=IIIIQQII")
# struct sock_level_hash_queue, 72 bytes: owner_pid, depth, queued, accepted, moved, wakeups,
# expired, overflowed, buckets, standby (1/0), demotions, promotions
ENTRY = struct.Struct("=iIQQQQQQIIII")
# struct sock_level_hash, 20 bytes: queues, hash, input, flags, max_wait_ms (0: strict)
CONFIG = struct.Struct("=iIIII")
# the struct before max_wait_ms, 16 bytes: still accepted, with the default wait
CONFIG_V1 = struct.Struct("=iIII")
assert (HEADER.size, ENTRY.size, CONFIG.size, CONFIG_V1.size) == (40, 72, 20, 16)

SYS_PIDFD_GETFD = 438  # x86_64 and the generic table


def config_bytes(queues, hash_fn=0, hash_input=0, flags=0, max_wait_ms=None):
    """The SO_SOCKLEVELHASH struct: the 16-byte one without `max_wait_ms` (the kernel applies
    the default wait, MAX_WAIT_MS_DEFAULT) unless `max_wait_ms` is given (0: strict), then the
    20-byte one."""
    if max_wait_ms is None:
        return CONFIG_V1.pack(queues, hash_fn, hash_input, flags)
    return CONFIG.pack(queues, hash_fn, hash_input, flags, max_wait_ms)


def get_config(sock):
    """SO_SOCKLEVELHASH read back as the 20-byte struct: a dict of its fields (queues 0: off)."""
    raw = sock.getsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, CONFIG.size)
    queues, hash_fn, hash_input, flags, max_wait_ms = CONFIG.unpack(raw)
    return dict(queues=queues, hash=hash_fn, input=hash_input, flags=flags, max_wait_ms=max_wait_ms)


def set_int(sock, option, value):
    sock.setsockopt(SOL_SOCKET, option, value)


def get_int(sock, option):
    return sock.getsockopt(SOL_SOCKET, option)


def info(sock, length=1024):
    """(header dict, [entry dict]) of SO_SOCKLEVELHASH_INFO with a buffer of `length` bytes
    (Python's getsockopt takes at most 1,024: the header and 13 queues, enough for the tests);
    the header's `length` is how many bytes the kernel wrote. The dicts' keys are the structs'
    field names, their values as the kernel wrote them (`standby` 1 or 0, `share` 0 when
    there is no limit)."""
    raw = sock.getsockopt(SOL_SOCKET, SO_SOCKLEVELHASH_INFO, length)
    (queues, hash_fn, hash_input, registered, normal_queued, normal_accepted, max_wait_ms,
     share) = HEADER.unpack_from(raw)
    header = dict(queues=queues, hash=hash_fn, input=hash_input, registered=registered,
                  normal_queued=normal_queued, normal_accepted=normal_accepted,
                  max_wait_ms=max_wait_ms, share=share, length=len(raw))
    rows = []
    for offset in range(HEADER.size, len(raw) - ENTRY.size + 1, ENTRY.size):
        (owner, depth, queued, accepted, moved, wakeups, expired, overflowed, buckets, standby,
         demotions, promotions) = ENTRY.unpack_from(raw, offset)
        rows.append(dict(owner_pid=owner, depth=depth, queued=queued, accepted=accepted,
                         moved=moved, wakeups=wakeups, expired=expired, overflowed=overflowed,
                         buckets=buckets, standby=standby, demotions=demotions,
                         promotions=promotions))
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
