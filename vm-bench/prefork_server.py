"""A plain pre-fork HTTP/1.0 server with a CPU-heavy handler (vm-bench section 4).

usage: prefork_server.py ADDRESS PORT WORKERS ITERATIONS

It knows nothing of the socket-level hash: the benchmark starts it with LD_PRELOAD of
libslh_preload.so, which enables the option at listen() and registers each worker before its
first accept(), as it would for any unmodified pre-fork server. The parent binds, listens and
forks WORKERS workers, which block in accept(). Each request costs one PBKDF2-HMAC-SHA256 of
ITERATIONS rounds (a password check, the CPU-bound kind of request), except a request for
/light (the benchmark's probe of which worker answers which client), which costs nothing; the
answer names the worker's pid. The parent prints "ready PID..." once forked and stops the workers on SIGTERM.
"""
import hashlib
import os
import signal
import socket
import sys


def handle(conn, iterations):
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    light = request.startswith(b"GET /light ")
    digest = hashlib.pbkdf2_hmac("sha256", request, b"vm-bench salt", 1 if light else iterations)
    body = b"worker %d %s\n" % (os.getpid(), digest.hex()[:16].encode())
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def work(listener, iterations):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        conn, _ = listener.accept()
        try:
            conn.settimeout(5)
            handle(conn, iterations)
        except OSError:
            pass
        finally:
            conn.close()


def main():
    address, port, workers, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # As Apache httpd does on Linux by default (AcceptFilter http data): a connection is
    # queued for accept() once its request has arrived, so a worker never waits for it.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 10)
    listener.bind((address, port))
    listener.listen(1024)
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                work(listener, iterations)
            finally:
                os._exit(0)
        pids.append(pid)
    print("ready", " ".join(map(str, pids)), flush=True)

    def stop(_signum, _frame):
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            os.waitpid(pid, 0)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
