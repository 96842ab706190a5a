#!/usr/bin/python3 -IS
"""The static key `sock_level_hash_in_use` (patch 0006) counts the sockets that have
socket-level hash state: the hooks of every other listener are a jump over them while it is
0, and a hook skips a listener with state if it is 0 while that listener lives. Its count is
read from the running kernel: the key's address from /proc/kallsyms, its `enabled` word (the
first of the struct) from /proc/kcore.

usage: slh_static_key.py     (as root, inside a network namespace whose lo is up, the module
                              loaded, no other socket with the option)
Prints "ok: ..." per check; exits 1 at the first failure.
"""
import errno
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slh_uapi import (  # noqa: E402  (needs the path above)
    REGISTER_ANY,
    SO_SOCKADDLSPH,
    SO_SOCKLEVELHASH,
    SOL_SOCKET,
    config_bytes,
)

PORT = 8091
# The last decrement waits HZ (DEFINE_STATIC_KEY_DEFERRED_FALSE(..., HZ)): the count reads 1
# for that second, then 0. A slow kernel (make test-debug) gets more time.
SETTLE = 10 * float(os.environ.get("SLH_TIME_SCALE", "1"))


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def key_address():
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, _, name = line.split()[:3]
            if name == "sock_level_hash_in_use":
                if int(addr, 16) == 0:
                    fail("/proc/kallsyms hides addresses (kernel.kptr_restrict 2, or no CAP_SYSLOG)")
                return int(addr, 16)
    fail("sock_level_hash_in_use is not in /proc/kallsyms (a kernel without patch 0006?)")


def key_count(addr):
    """The key's `enabled` count: the atomic_t at the start of the struct, read through the
    PT_LOAD segment of /proc/kcore that maps the kernel image."""
    with open("/proc/kcore", "rb", buffering=0) as f:
        ehdr = f.read(64)
        if ehdr[:6] != b"\x7fELF\x02\x01":
            fail("/proc/kcore is not a 64-bit little-endian ELF file")
        (phoff,) = struct.unpack_from("<Q", ehdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, offset, vaddr, _, _, memsz, _ = struct.unpack("<IIQQQQQQ", f.read(56))
            if p_type == 1 and vaddr <= addr < vaddr + memsz:
                f.seek(offset + addr - vaddr)
                return struct.unpack("<i", f.read(4))[0]
    fail(f"no segment of /proc/kcore maps {addr:#x}")


def expect(addr, count, what):
    got = key_count(addr)
    if got != count:
        fail(f"{what}: the key counts {got}, not {count}")
    print(f"ok: {what}: the key counts {count}", flush=True)


def settles_to(addr, count, what):
    """The count reaches `count` within SETTLE seconds (the deferred last decrement)."""
    deadline = time.monotonic() + SETTLE
    got = key_count(addr)
    while got != count and time.monotonic() < deadline:
        time.sleep(0.05)
        got = key_count(addr)
    if got != count:
        fail(f"{what}: the key still counts {got} after {SETTLE:.0f} s, not {count}")
    print(f"ok: {what}: the key counts {count}", flush=True)


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def set_fails(sock, value, name):
    try:
        sock.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, value)
    except OSError as e:
        if e.errno == getattr(errno, name):
            return
        fail(f"a bad SO_SOCKLEVELHASH failed with {errno.errorcode.get(e.errno)}, not {name}")
    fail(f"a bad SO_SOCKLEVELHASH succeeded, not {name}")


def main():
    addr = key_address()
    settles_to(addr, 0, "no socket has the option (the last test's sockets released)")

    a = listener(PORT)
    a.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, config_bytes(4))
    expect(addr, 1, "a listener turned the option on")
    a.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, config_bytes(4, max_wait_ms=0))
    a.setsockopt(SOL_SOCKET, SO_SOCKADDLSPH, REGISTER_ANY)
    expect(addr, 1, "the same listener set it again and registered a process (no new state)")

    b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    b.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, config_bytes(2))
    expect(addr, 2, "a TCP socket that never listened turned it on too")

    c = listener(PORT + 1)
    set_fails(c, config_bytes(0x7FFF), "EINVAL")
    set_fails(c, b"\0" * 3, "EINVAL")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    set_fails(udp, config_bytes(4), "EOPNOTSUPP")
    udp.close()
    set_fails(a, config_bytes(2), "EBUSY")
    expect(addr, 2, "refused calls (bad values, a UDP socket, EBUSY on a listener with state) left no count behind")

    client = socket.create_connection(("127.0.0.1", PORT))
    set_fails(client, config_bytes(4), "EOPNOTSUPP")
    child, _ = a.accept()
    set_fails(child, config_bytes(4), "EOPNOTSUPP")
    expect(addr, 2, "a connection accepted (the accept added no count; connected sockets are refused)")
    child.close()
    client.close()
    expect(addr, 2, "the accepted connection closed (it had no state of its own to drop)")

    a.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, config_bytes(0))
    expect(addr, 2, "the option turned off on the listener (its state lives until it closes)")
    a.close()
    expect(addr, 1, "the listener closed: one socket with state is left")
    c.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, config_bytes(1))
    expect(addr, 2, "another listener turned it on")
    c.close()
    b.close()
    settles_to(addr, 0, "every socket with state closed")


if __name__ == "__main__":
    main()
