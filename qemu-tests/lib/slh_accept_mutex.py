#!/usr/bin/python3 -IS
"""A pre-fork server with an accept mutex over two listeners (the design of servers with more
than one Listen port, as Apache's prefork), and its client.

usage: slh_accept_mutex.py server PORT1 PORT2 WORKERS
         Listens on 127.0.0.1:PORT1 and PORT2 (plain socket calls: run it under the shim),
         forks WORKERS workers. A worker takes the mutex (a lock on an inherited file), polls
         both listeners until one is readable, accepts one connection (non-blocking), lets
         the mutex go, answers "worker PID" and closes. Prints "ready"; SIGTERM ends it.
       slh_accept_mutex.py client PORT1 PORT2 ROUNDS BOUND
         64 client addresses (127.0.1.1..), ROUNDS rounds, each client connecting to both
         ports at once; prints the slowest answer and exits 1 if a connection was not answered
         within BOUND seconds.
"""
import fcntl
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time

CLIENTS = 64


def worker(listeners, mutex):
    for listener in listeners:
        listener.setblocking(False)
    poller = select.poll()
    for listener in listeners:
        poller.register(listener.fileno(), select.POLLIN)
    by_fd = {listener.fileno(): listener for listener in listeners}
    while True:
        fcntl.lockf(mutex, fcntl.LOCK_EX)
        conn = None
        while conn is None:
            for fd, _ in poller.poll():
                try:
                    conn, _ = by_fd[fd].accept()
                    break
                except BlockingIOError:
                    continue
        fcntl.lockf(mutex, fcntl.LOCK_UN)
        conn.setblocking(True)
        conn.sendall(f"worker {os.getpid()}\n".encode())
        conn.close()


def server(port1, port2, workers):
    listeners = []
    for port in (port1, port2):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
        listeners.append(listener)
    mutex = tempfile.TemporaryFile()
    # Taken with sigwait below: blocked before the forks (the workers are killed, not asked).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                worker(listeners, mutex)
            finally:
                os._exit(0)
        children.append(pid)
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM})
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)


def connect(client, port, bound):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(bound + 5)
    try:
        sock.bind((f"127.0.1.{client + 1}", 0))
        sock.connect(("127.0.0.1", port))
        start = time.monotonic()
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"worker "), time.monotonic() - start
    except OSError:
        return False, None
    finally:
        sock.close()


def client(port1, port2, rounds, bound):
    results = []

    def run(client_index, port):
        results.append(connect(client_index, port, bound))

    for _ in range(rounds):
        threads = [threading.Thread(target=run, args=(c, p)) for c in range(CLIENTS) for p in (port1, port2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    failed = [r for r in results if not r[0]]
    slowest = max((r[1] for r in results if r[1] is not None), default=0)
    print(f"connections {len(results)} unanswered {len(failed)} slowest {slowest:.3f} s", flush=True)
    if failed or slowest > bound:
        sys.exit(1)


def main():
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))


if __name__ == "__main__":
    main()
