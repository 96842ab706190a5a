#!/usr/bin/python3 -IS
"""A pre-fork server whose workers register and never accept, so that every connection stays
parked in a priority queue; for closing a listener with full priority queues while their
owners live on.

usage: slh_parked.py PORT WORKERS
Listens on 0.0.0.0:PORT (backlog 1024) with SO_SOCKLEVELHASH, WORKERS queues and no bounded
wait (the strict mode), forks WORKERS
children; each registers to any free queue, closes its copy of the listener (the parent's is
then the last one) and waits. Prints "worker PID queue Q" per child, then "ready".
Signals: SIGUSR1 closes the listener and prints "closed"; SIGTERM ends the children (they
say "worker PID exits") and the server.
"""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slh_uapi import REGISTER_ANY, SO_SOCKADDLSPH, SO_SOCKLEVELHASH, SOL_SOCKET, config_bytes  # noqa: E402


def main():
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    # Strict (max_wait 0): parked connections stay until their owner leaves.
    listener.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, config_bytes(workers, max_wait_ms=0))
    listener.listen(1024)
    # Taken with sigwait below; blocked before the forks so the children inherit the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
    children = []
    for _ in range(workers):
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            listener.setsockopt(SOL_SOCKET, SO_SOCKADDLSPH, REGISTER_ANY)
            queue = listener.getsockopt(SOL_SOCKET, SO_SOCKADDLSPH)
            listener.close()
            os.write(ready_w, f"{queue}\n".encode())
            os.close(ready_w)
            signal.sigwait({signal.SIGTERM})
            print(f"worker {os.getpid()} exits", flush=True)
            os._exit(0)
        os.close(ready_w)
        with os.fdopen(ready_r) as ready:
            queue = ready.read().strip()
        print(f"worker {pid} queue {queue}", flush=True)
        children.append(pid)
    print("ready", flush=True)
    while True:
        sig = signal.sigwait({signal.SIGUSR1, signal.SIGTERM})
        if sig == signal.SIGUSR1 and listener.fileno() >= 0:
            listener.close()
            print("closed", flush=True)
        elif sig == signal.SIGTERM:
            for pid in children:
                os.kill(pid, signal.SIGTERM)
            for pid in children:
                os.waitpid(pid, 0)
            return


if __name__ == "__main__":
    main()
