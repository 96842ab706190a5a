#!/usr/bin/python3 -IS
"""Sockopt fuzzer of the socket-level hash: seeded, reproducible random calls of the three
options (set and get, random length and value, SOL_SOCKET) on random sockets in random states,
from several processes and threads, while connections arrive at the listening ones.

usage: slh_fuzz.py CALLS SEED [PROCESSES THREADS]
Runs in a network namespace with lo up. Every answer must be a success or an errno of the
errno table in userspace/README.md (ENOPROTOOPT, EOPNOTSUPP, EINVAL, EBUSY, ENOSPC); anything
else is printed with the call that got it (seed, process, thread, call number) and the run
fails. Prints "fuzz: N calls, S succeeded, counts per errno" and exits 0 when every answer was
allowed.
Each thread has its own generator, seeded from SEED, its process and its number: a failing
call can be replayed with the same arguments.
"""
import ast
import ctypes
import errno
import os
import random
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slh_uapi import SO_SOCKADDLSPH, SO_SOCKLEVELHASH, SO_SOCKLEVELHASH_INFO, SOL_SOCKET  # noqa: E402

ALLOWED = {errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EINVAL, errno.EBUSY, errno.ENOSPC}
OPTIONS = (SO_SOCKLEVELHASH, SO_SOCKADDLSPH, SO_SOCKLEVELHASH_INFO)
BASE_PORT = 9100
PORTS = 8

libc = ctypes.CDLL(None, use_errno=True)
libc.setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]
libc.getsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                            ctypes.POINTER(ctypes.c_uint)]


def interesting_int(rng):
    return rng.choice([0, 1, 2, 3, 4, 8, 16, 255, 256, 1023, 1024, 1025, -1, -2, -3,
                       2**31 - 1, -2**31, rng.randrange(-2**31, 2**31)])


def random_value(rng, length):
    """Bytes of `length`: a valid-looking struct or int, or noise."""
    kind = rng.randrange(4)
    if kind == 0:
        head = interesting_int(rng).to_bytes(4, "little", signed=True)
    elif kind == 1:
        fields = [interesting_int(rng), rng.randrange(6), rng.randrange(4), rng.choice([0, 0, 1])]
        head = b"".join(f.to_bytes(4, "little", signed=True) for f in fields)
    elif kind == 2:
        head = b""
    else:
        head = rng.randbytes(min(length, 64))
    return (head + bytes(max(0, length - len(head))))[:length]


def random_length(rng):
    return rng.choice([0, 1, 3, 4, 5, 8, 15, 16, 17, 20, 32, 40, 63, 64, 65, 72, 100, 1024,
                       4096, 40992, 41000, 65536, rng.randrange(0, 200)])


def new_socket(rng, port):
    """A socket of a random type in a random state."""
    family, kind = rng.choice([(socket.AF_INET, socket.SOCK_STREAM)] * 6 +
                              [(socket.AF_INET6, socket.SOCK_STREAM)] * 3 +
                              [(socket.AF_INET, socket.SOCK_DGRAM), (socket.AF_UNIX, socket.SOCK_STREAM),
                               (socket.AF_INET, socket.SOCK_RAW)])
    proto = socket.IPPROTO_TCP if kind == socket.SOCK_STREAM and family != socket.AF_UNIX else 0
    if kind == socket.SOCK_RAW:
        proto = socket.IPPROTO_UDP
    s = socket.socket(family, kind, proto)
    if kind != socket.SOCK_STREAM or family == socket.AF_UNIX:
        return s
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    state = rng.choice(["unbound", "bound", "listening", "listening", "listening", "connected",
                        "reset", "shutdown"])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        if state in ("bound", "listening", "shutdown"):
            s.bind((host, port))
        if state in ("listening", "shutdown"):
            s.listen(64)
        if state == "shutdown":
            s.shutdown(socket.SHUT_RDWR)
        if state == "connected":
            s.settimeout(1)
            s.connect((host, BASE_PORT + PORTS))  # the fuzzer's own plain listener
        if state == "reset":
            s.settimeout(1)
            s.connect((host, BASE_PORT + PORTS + 1))  # nobody listens: the peer resets it
    except OSError:
        pass
    return s


def fuzz_thread(seed, proc, thread, calls, result):
    rng = random.Random(f"{seed}/{proc}/{thread}")
    socks = []
    ok = 0
    counts = {}
    bad = []
    for n in range(calls):
        if not socks or rng.random() < 0.02:
            if len(socks) >= 6:
                socks.pop(rng.randrange(len(socks))).close()
            socks.append(new_socket(rng, BASE_PORT + rng.randrange(PORTS)))
        s = rng.choice(socks)
        option = rng.choice(OPTIONS)
        length = random_length(rng)
        if rng.random() < 0.5:
            value = random_value(rng, length)
            buf = ctypes.create_string_buffer(value, max(1, length))
            rc = libc.setsockopt(s.fileno(), SOL_SOCKET, option, buf, length)
            call = f"setsockopt(opt {option}, len {length}, value {value[:16].hex()})"
        else:
            buf = ctypes.create_string_buffer(max(1, length))
            optlen = ctypes.c_uint(length)
            rc = libc.getsockopt(s.fileno(), SOL_SOCKET, option, buf, ctypes.byref(optlen))
            call = f"getsockopt(opt {option}, len {length})"
            if rc == 0 and optlen.value > length:
                bad.append(f"{call}: optlen grew to {optlen.value}")
        if rc == 0:
            ok += 1
            continue
        err = ctypes.get_errno()
        counts[err] = counts.get(err, 0) + 1
        if err not in ALLOWED:
            bad.append(f"seed {seed} process {proc} thread {thread} call {n}: {call} on "
                       f"{s.family.name}/{s.type.name}: {errno.errorcode.get(err, err)}")
    for s in socks:
        s.close()
    result.append((ok, counts, bad))


def connector(stop):
    """Connections arriving at the fuzzed listeners while the calls run."""
    rng = random.Random(1)
    while not stop.is_set():
        try:
            c = socket.create_connection(("127.0.0.1", BASE_PORT + rng.randrange(PORTS)), timeout=0.2)
            c.close()
        except OSError:
            pass


def share(total, parts, index):
    """Part `index` of `total` split into `parts` as evenly as the remainder allows."""
    return total // parts + (1 if index < total % parts else 0)


def run_process(seed, proc, calls, threads):
    result = []
    workers = [threading.Thread(target=fuzz_thread,
                                args=(seed, proc, t, share(calls, threads, t), result))
               for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return result


def main():
    calls, seed = int(sys.argv[1]), int(sys.argv[2])
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    plain.bind(("127.0.0.1", BASE_PORT + PORTS))
    plain.listen(4096)
    plain6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    plain6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    plain6.bind(("::1", BASE_PORT + PORTS))
    plain6.listen(4096)
    stop = threading.Event()
    threading.Thread(target=connector, args=(stop,), daemon=True).start()
    pipes = []
    for proc in range(processes):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            result = run_process(seed, proc, share(calls, processes, proc), threads)
            ok = sum(x[0] for x in result)
            counts = {}
            for _, c, _ in result:
                for k, v in c.items():
                    counts[k] = counts.get(k, 0) + v
            bad = [b for x in result for b in x[2]]
            with os.fdopen(w, "w") as out:
                out.write(repr((ok, counts, bad[:20], len(bad))))
            os._exit(0)
        os.close(w)
        pipes.append((pid, r))
    total_ok, total_counts, total_bad, n_bad = 0, {}, [], 0
    for pid, r in pipes:
        with os.fdopen(r) as f:
            text = f.read()
        os.waitpid(pid, 0)
        if not text:
            total_bad.append(f"process {pid} died")
            n_bad += 1
            continue
        ok, counts, bad, nb = ast.literal_eval(text)
        total_ok += ok
        for k, v in counts.items():
            total_counts[k] = total_counts.get(k, 0) + v
        total_bad += bad
        n_bad += nb
    stop.set()
    per = ", ".join(f"{errno.errorcode.get(k, k)} {v}" for k, v in sorted(total_counts.items()))
    print(f"fuzz: {total_ok + sum(total_counts.values())} calls, {total_ok} succeeded, {per}")
    for b in total_bad:
        print(f"FAIL {b}")
    sys.exit(1 if n_bad else 0)


if __name__ == "__main__":
    main()
