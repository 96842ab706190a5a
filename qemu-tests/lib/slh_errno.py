#!/usr/bin/python3 -IS
"""Every error of the uapi's errno table (userspace/README.md), with the successes next to
them, through raw setsockopt/getsockopt on sockets of a network namespace's loopback.

usage: slh_errno.py unloaded   every option answers ENOPROTOOPT (no module)
       slh_errno.py loaded     the module is loaded: the whole table
Prints "ok: ..." per check; exits 1 at the first failure.
"""
import errno
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slh_uapi import (  # noqa: E402  (needs the path above)
    DEREGISTER,
    REGISTER_ANY,
    SO_SOCKADDLSPH,
    SO_SOCKLEVELHASH,
    SO_SOCKLEVELHASH_INFO,
    SOL_SOCKET,
    config_bytes,
    info,
)


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def expect(what, name, call):
    """`call` must fail with errno `name`."""
    try:
        call()
    except OSError as e:
        if e.errno == getattr(errno, name):
            print(f"ok: {what}: {name}", flush=True)
            return
        fail(f"{what}: expected {name}, got {errno.errorcode.get(e.errno, e.errno)} ({e})")
    fail(f"{what}: expected {name}, the call succeeded")


def works(what, call, expected=None):
    """`call` must succeed (and return `expected` when given)."""
    try:
        value = call()
    except OSError as e:
        fail(f"{what}: failed with {errno.errorcode.get(e.errno, e.errno)} ({e})")
    if expected is not None and value != expected:
        fail(f"{what}: expected {expected!r}, got {value!r}")
    print(f"ok: {what}" + (f" = {value!r}" if expected is not None else ""), flush=True)
    return value


def setopt(sock, option, value):
    return lambda: sock.setsockopt(SOL_SOCKET, option, value)


def getopt(sock, option, length=None):
    if length is None:
        return lambda: sock.getsockopt(SOL_SOCKET, option)
    return lambda: sock.getsockopt(SOL_SOCKET, option, length)


def listener(queues=None, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
    if queues is not None:
        s.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, queues)
    s.listen(16)
    return s


def in_child(body):
    """Runs `body()` in a forked child; returns (pid, read end that gets its one-line result,
    write end of a pipe that makes the child exit when closed)."""
    result_r, result_w = os.pipe()
    exit_r, exit_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(result_r)
        os.close(exit_w)
        try:
            answer = body()
        except OSError as e:
            answer = errno.errorcode.get(e.errno, str(e.errno))
        os.write(result_w, f"{answer}\n".encode())
        os.read(exit_r, 1)  # until the parent closes its end
        os._exit(0)
    os.close(result_w)
    os.close(exit_r)
    return pid, result_r, exit_w


def child_result(read_end):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(read_end, 64)
        if not chunk:
            break
        data += chunk
    os.close(read_end)
    return data.decode().strip()


def register_any(sock):
    sock.setsockopt(SOL_SOCKET, SO_SOCKADDLSPH, REGISTER_ANY)
    return sock.getsockopt(SOL_SOCKET, SO_SOCKADDLSPH)


def unloaded():
    s = listener()
    expect("no module: setsockopt SO_SOCKLEVELHASH int", "ENOPROTOOPT", setopt(s, SO_SOCKLEVELHASH, 4))
    expect("no module: setsockopt SO_SOCKLEVELHASH struct", "ENOPROTOOPT",
           setopt(s, SO_SOCKLEVELHASH, config_bytes(4)))
    expect("no module: getsockopt SO_SOCKLEVELHASH", "ENOPROTOOPT", getopt(s, SO_SOCKLEVELHASH))
    expect("no module: setsockopt SO_SOCKADDLSPH", "ENOPROTOOPT", setopt(s, SO_SOCKADDLSPH, REGISTER_ANY))
    expect("no module: getsockopt SO_SOCKADDLSPH", "ENOPROTOOPT", getopt(s, SO_SOCKADDLSPH))
    expect("no module: getsockopt SO_SOCKLEVELHASH_INFO", "ENOPROTOOPT", getopt(s, SO_SOCKLEVELHASH_INFO, 512))


def wrong_sockets():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    expect("UDP: setsockopt SO_SOCKLEVELHASH", "EOPNOTSUPP", setopt(udp, SO_SOCKLEVELHASH, 4))
    expect("UDP: getsockopt SO_SOCKLEVELHASH", "EOPNOTSUPP", getopt(udp, SO_SOCKLEVELHASH))
    expect("UDP: setsockopt SO_SOCKADDLSPH", "EOPNOTSUPP", setopt(udp, SO_SOCKADDLSPH, REGISTER_ANY))
    expect("UDP: getsockopt SO_SOCKLEVELHASH_INFO", "EOPNOTSUPP", getopt(udp, SO_SOCKLEVELHASH_INFO, 512))
    udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    expect("UDP over IPv6: setsockopt SO_SOCKLEVELHASH", "EOPNOTSUPP", setopt(udp6, SO_SOCKLEVELHASH, 4))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    expect("Unix stream socket: setsockopt SO_SOCKLEVELHASH", "EOPNOTSUPP", setopt(unix, SO_SOCKLEVELHASH, 4))
    for s in (udp, udp6, unix):
        s.close()


def bad_values():
    s = listener()
    for value in (1025, -2, -3, 2**31 - 1):
        expect(f"queue count {value}", "EINVAL", setopt(s, SO_SOCKLEVELHASH, value))
    expect("struct: queue count 1025", "EINVAL", setopt(s, SO_SOCKLEVELHASH, config_bytes(1025)))
    expect("struct: unknown hash 5", "EINVAL", setopt(s, SO_SOCKLEVELHASH, config_bytes(4, 5, 0)))
    expect("struct: unknown input 3", "EINVAL", setopt(s, SO_SOCKLEVELHASH, config_bytes(4, 0, 3)))
    expect("struct: nonzero flags", "EINVAL", setopt(s, SO_SOCKLEVELHASH, config_bytes(4, 0, 0, 1)))
    expect("struct longer than 20 bytes with a nonzero tail", "EINVAL",
           setopt(s, SO_SOCKLEVELHASH, config_bytes(4, max_wait_ms=100) + b"\0\0\0\1"))
    expect("struct: max_wait_ms 60001", "EINVAL",
           setopt(s, SO_SOCKLEVELHASH, config_bytes(4, max_wait_ms=60001)))
    for length in (0, 3, 8, 15, 17, 19):
        expect(f"SO_SOCKLEVELHASH optlen {length}", "EINVAL", setopt(s, SO_SOCKLEVELHASH, bytes(length)))
    works("struct longer than 20 bytes with a zero tail",
          setopt(s, SO_SOCKLEVELHASH, config_bytes(3, 4, 1, max_wait_ms=150) + bytes(8)))
    works("  read back as the 20-byte struct (max_wait_ms 150)",
          lambda: int.from_bytes(s.getsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, 20)[16:20], sys.byteorder), 150)
    works("  read back as struct (queues, hash crc16, input client-server)",
          lambda: tuple(int.from_bytes(s.getsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, 16)[i : i + 4], sys.byteorder, signed=True)
                        for i in range(0, 16, 4)), (3, 4, 1, 0))
    expect("SO_SOCKLEVELHASH_INFO optlen 39", "EINVAL", getopt(s, SO_SOCKLEVELHASH_INFO, 39))
    expect("SO_SOCKLEVELHASH_INFO optlen 4", "EINVAL", getopt(s, SO_SOCKLEVELHASH_INFO, 4))
    header, rows = works("SO_SOCKLEVELHASH_INFO optlen 40 (header only)", lambda: info(s, 40))
    if header["length"] != 40 or header["queues"] != 3 or header["max_wait_ms"] != 150 or rows:
        fail(f"header-only INFO: {header} {rows}")
    header, rows = works("SO_SOCKLEVELHASH_INFO with room for 1.5 entries", lambda: info(s, 40 + 108))
    if header["length"] != 112 or len(rows) != 1:
        fail(f"INFO with room for 1.5 entries wrote {header['length']} bytes, {len(rows)} entries")
    print("ok:   written: the header and one whole entry (112 bytes), queues = 3 in the header", flush=True)
    for value in (3, -3, 1024):
        expect(f"SO_SOCKADDLSPH index {value} (3 queues)", "EINVAL", setopt(s, SO_SOCKADDLSPH, value))
    expect("SO_SOCKADDLSPH optlen 2", "EINVAL", setopt(s, SO_SOCKADDLSPH, b"\0\0"))
    s.close()


def wrong_state():
    s = listener()
    works("a listener without the option reads 0 queues", getopt(s, SO_SOCKLEVELHASH), 0)
    expect("SO_SOCKADDLSPH on a listener without the option", "EOPNOTSUPP", setopt(s, SO_SOCKADDLSPH, REGISTER_ANY))
    expect("SO_SOCKLEVELHASH_INFO on a listener without the option", "EOPNOTSUPP",
           getopt(s, SO_SOCKLEVELHASH_INFO, 512))
    s.close()
    fresh = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    works("option on a TCP socket before bind and listen", setopt(fresh, SO_SOCKLEVELHASH, 4))
    works("  read back", getopt(fresh, SO_SOCKLEVELHASH), 4)
    fresh.bind(("127.0.0.1", 0))
    fresh.listen(8)
    works("  kept through listen", getopt(fresh, SO_SOCKLEVELHASH), 4)
    fresh.close()
    six = listener(4, socket.AF_INET6)
    works("IPv6 listener: registered to the lowest free queue", lambda: register_any(six), 0)
    six.close()


def registrations():
    s = listener(4)
    works("queue count -1 reads back as one per possible CPU (nr_cpu_ids)",
          lambda: (setopt(s, SO_SOCKLEVELHASH, -1)(), getopt(s, SO_SOCKLEVELHASH)())[1], min(possible_cpus(), 1024))
    works("back to 4 queues (nobody registered)", setopt(s, SO_SOCKLEVELHASH, 4))
    works("not registered yet: SO_SOCKADDLSPH reads -1", getopt(s, SO_SOCKADDLSPH), -1)
    works("register to any free queue: the lowest", lambda: register_any(s), 0)
    works("registering again to any is a no-op", lambda: register_any(s), 0)
    works("registering to its own queue is a no-op", lambda: (setopt(s, SO_SOCKADDLSPH, 0)(), getopt(s, SO_SOCKADDLSPH)())[1], 0)
    expect("a registered process asks for another queue", "EBUSY", setopt(s, SO_SOCKADDLSPH, 2))
    expect("queue count changed while a process is registered", "EBUSY", setopt(s, SO_SOCKLEVELHASH, 8))
    expect("struct: queue count changed while registered", "EBUSY", setopt(s, SO_SOCKLEVELHASH, config_bytes(2)))
    works("same queue count while registered", setopt(s, SO_SOCKLEVELHASH, 4))
    works("another hash, same count, while registered", setopt(s, SO_SOCKLEVELHASH, config_bytes(4, 4, 0)))
    header, rows = info(s)
    if (header["queues"], header["hash"], header["registered"]) != (4, 4, 1) or rows[0]["owner_pid"] != os.getpid():
        fail(f"INFO after registering: {header} {rows[:1]}")
    print(f"ok: INFO: 4 queues, hash 4 (crc16), 1 registered, queue 0 owned by this process ({os.getpid()})", flush=True)

    # A queue of another live process.
    works("deregister", setopt(s, SO_SOCKADDLSPH, DEREGISTER))
    works("  SO_SOCKADDLSPH reads -1 again", getopt(s, SO_SOCKADDLSPH), -1)
    works("deregistering when not registered is a no-op", setopt(s, SO_SOCKADDLSPH, DEREGISTER))

    def take_queue_1():
        s.setsockopt(SOL_SOCKET, SO_SOCKADDLSPH, 1)
        return s.getsockopt(SOL_SOCKET, SO_SOCKADDLSPH)

    child, result, release = in_child(take_queue_1)
    answer = child_result(result)
    if answer != "1":
        fail(f"child registering to queue 1: {answer}")
    print(f"ok: child {child} registered to queue 1", flush=True)
    expect("queue 1 owned by another live process", "EBUSY", setopt(s, SO_SOCKADDLSPH, 1))
    expect("queue count changed while another process is registered", "EBUSY", setopt(s, SO_SOCKLEVELHASH, 2))
    works("any free queue skips the child's", lambda: register_any(s), 0)
    works("deregister", setopt(s, SO_SOCKADDLSPH, DEREGISTER))
    os.close(release)
    os.waitpid(child, 0)
    # The exit is seen through the pid's wait_pidfd, and the queue released by a work item
    # right after: wait (briefly) until SO_SOCKLEVELHASH_INFO shows it without an owner.
    deadline = time.monotonic() + 2
    while info(s)[1][1]["owner_pid"] != 0:
        if time.monotonic() > deadline:
            fail(f"queue 1 still owned by {info(s)[1][1]['owner_pid']} 2 s after its owner exited")
        time.sleep(0.01)
    print(f"ok: queue 1 released after its owner exited", flush=True)
    works("queue 1 after its owner exited", lambda: (setopt(s, SO_SOCKADDLSPH, 1)(), getopt(s, SO_SOCKADDLSPH)())[1], 1)
    works("deregister", setopt(s, SO_SOCKADDLSPH, DEREGISTER))
    works("queue count change with nobody registered", setopt(s, SO_SOCKLEVELHASH, 2))

    # More processes than queues.
    works("this process takes queue 0 of 2", lambda: register_any(s), 0)
    first, first_result, first_release = in_child(lambda: register_any(s))
    if child_result(first_result) != "1":
        fail("the first child did not get queue 1")
    print("ok: a child took queue 1 of 2", flush=True)
    second, second_result, second_release = in_child(lambda: register_any(s))
    answer = child_result(second_result)
    if answer != "ENOSPC":
        fail(f"a third process registering to any of 2 queues: expected ENOSPC, got {answer}")
    print("ok: a third process registering to any of 2 queues: ENOSPC", flush=True)
    # Both ends first: the second child inherited the first one's exit pipe.
    os.close(first_release)
    os.close(second_release)
    for pid in (first, second):
        os.waitpid(pid, 0)

    # Off is always allowed, registrations end with it.
    works("turn off while registered", setopt(s, SO_SOCKLEVELHASH, 0))
    works("  reads 0 queues", getopt(s, SO_SOCKLEVELHASH), 0)
    expect("  SO_SOCKADDLSPH after turning off", "EOPNOTSUPP", setopt(s, SO_SOCKADDLSPH, REGISTER_ANY))
    works("turn on again", setopt(s, SO_SOCKLEVELHASH, 2))
    works("  nobody registered any more", lambda: info(s)[0]["registered"], 0)
    s.close()


def accepted_socket_wakes_its_reader():
    """Not an errno, but the same loopback: an accepted socket of a listener with the option
    (registered or not) wakes a reader blocked in recv() when data arrives later. (Accepted
    sockets are clones of the listener; they must not keep its accept-queue wake-up rule.)"""
    for register in (False, True):
        s = listener(2)
        if register:
            register_any(s)
        client = socket.create_connection(s.getsockname())
        conn, _ = s.accept()
        conn.settimeout(5)
        pid = os.fork()
        if pid == 0:
            time.sleep(0.3)  # the parent is blocked in recv() by then
            client.sendall(b"x")
            os._exit(0)
        start = time.monotonic()
        try:
            data = conn.recv(1)
        except socket.timeout:
            data = b""
        waited = time.monotonic() - start
        os.waitpid(pid, 0)
        what = "registered" if register else "not registered"
        if data != b"x" or waited > 3:
            fail(f"accepted socket ({what}): recv() woke after {waited:.2f} s with {data!r} for data sent after 0.3 s")
        print(f"ok: accepted socket ({what}): a reader blocked in recv() woke {waited:.2f} s after it started (data sent after 0.3 s)", flush=True)
        for sock in (conn, client, s):
            sock.close()


def possible_cpus():
    """nr_cpu_ids: the highest possible CPU + 1, from /sys/devices/system/cpu/possible."""
    with open("/sys/devices/system/cpu/possible") as f:
        last = f.read().strip().replace(",", "-").split("-")[-1]
    return int(last) + 1


def main():
    if sys.argv[1:] == ["unloaded"]:
        unloaded()
    elif sys.argv[1:] == ["loaded"]:
        wrong_sockets()
        bad_values()
        wrong_state()
        registrations()
        accepted_socket_wakes_its_reader()
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
