#!/usr/bin/python3 -IS
"""Whether a parked connection wakes its owner, whatever the order of the calls that set up
the waiting: epoll_ctl before or after registering, re-registering, a queue taken over from a
process that still waits on the listener, poll() and select() while another thread registers,
a blocking accept() left behind by a process that left its queue.

usage: slh_readiness.py CASE [exclusive]
Runs in a network namespace with lo up. Listens on 127.0.0.1:PORT with SO_SOCKLEVELHASH (2
queues, strict: nothing expires), forks the case's workers, connects once from the parent and
prints "ok CASE: accepted by the owner after S s" when the owner accepted within BOUND
seconds, else "FAIL CASE: ...".
A registered worker owns every bucket (it is the only one, or the others left), so the
connection parks for it: the owner's queue must count it as queued, the normal queue not.
"exclusive" adds the listener to epoll with EPOLLEXCLUSIVE.

Cases:
  epoll-then-register   epoll_ctl(ADD), then SO_SOCKADDLSPH, then epoll_wait
  register-then-epoll   the other order (the order servers usually have)
  reregister            register to queue 0, epoll_ctl(ADD), deregister, register to queue 1
  taken-over            worker A (registered, in epoll_wait) leaves queue 0; worker B takes
                        queue 0 and waits in its own epoll; the connection is B's
  poll-register         one thread blocks in poll() while another registers the process
  select-register       the same with select()
  accept-left-behind    a thread of worker A blocks in accept() while A owns queue 0; A
                        deregisters; worker B takes queue 0 and blocks in accept()
  option-after-epoll    epoll_ctl(ADD) while the option is still off; then the worker turns it
                        on and registers
  option-after-accept   a thread blocks in accept() while the option is off; another thread
                        turns it on and registers the process
"""
import os
import select
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slh_uapi import (DEREGISTER, SO_SOCKADDLSPH, SO_SOCKLEVELHASH, SOL_SOCKET,  # noqa: E402
                      config_bytes, info)

PORT = 8181
# Times SLH_TIME_SCALE, as the shell's time_bound (the sanitizer kernel is slower).
BOUND = 5.0 * float(os.environ.get("SLH_TIME_SCALE", "1"))
EPOLLEXCLUSIVE = 1 << 28


def turn_on(listener):
    """Two queues in the strict mode: a parked connection waits for its owner however long
    the owner takes. With a bounded wait, a slow owner (a loaded machine: TCG is slow) or a
    lost wake-up alike would see the connection expire to the normal queue, and the counters
    could not tell the two apart."""
    listener.setsockopt(SOL_SOCKET, SO_SOCKLEVELHASH, config_bytes(2, max_wait_ms=0))


def register(listener, queue):
    listener.setsockopt(SOL_SOCKET, SO_SOCKADDLSPH, queue)


def epoll_for(listener, exclusive):
    ep = select.epoll()
    ep.register(listener.fileno(), select.EPOLLIN | (EPOLLEXCLUSIVE if exclusive else 0))
    return ep


def wait_and_accept(waiter, listener, report):
    """Waits with `waiter` (a function that returns when the listener is readable or after
    BOUND), then accepts without blocking; writes the outcome to the pipe `report`."""
    waiter()
    try:
        conn, _ = listener.accept()
        conn.close()
        os.write(report, b"accepted\n")
    except BlockingIOError:
        os.write(report, b"nothing\n")


def worker(body):
    """Forks a worker running body(ready, report); returns (pid, ready fd, report fd)."""
    ready_r, ready_w = os.pipe()
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(report_r)
        try:
            body(ready_w, report_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(report_w)
    return pid, ready_r, report_r


def accept_in_thread(listener):
    """Starts a thread blocked in accept() on the listener (a blocking duplicate); the event
    returned is set once it accepted a connection."""
    blocking = socket.socket(fileno=os.dup(listener.fileno()))
    blocking.setblocking(True)
    accepted = threading.Event()

    def accept_one():
        conn, _ = blocking.accept()
        conn.close()
        accepted.set()
    threading.Thread(target=accept_one, daemon=True).start()
    return accepted


def take_over(listener, others, wait_in_first, owner_body):
    """A first worker registers to queue 0, starts waiting with wait_in_first(), leaves the
    queue and lives on; then the owner (owner_body) is forked. Returns worker()'s triple."""
    left_r, left_w = os.pipe()

    def first(ready, report):
        register(listener, 0)
        wait_in_first()
        os.write(ready, b"ready\n")
        time.sleep(0.5)
        register(listener, DEREGISTER)
        os.write(left_w, b"left\n")
        time.sleep(3 * BOUND)
    pid, ready, _ = worker(first)
    others.append(pid)
    wait_line(ready, 30)
    wait_line(left_r, 30)
    return worker(owner_body)


def wait_line(fd, timeout):
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return None
    return os.read(fd, 64).decode().strip()


def main():
    case = sys.argv[1]
    exclusive = len(sys.argv) > 2 and sys.argv[2] == "exclusive"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    option_later = case.startswith("option-after-")
    if not option_later:
        turn_on(listener)
    listener.listen(64)
    listener.setblocking(False)
    others = []
    try:
        check(case, exclusive, listener, others)
    finally:
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)


def check(case, exclusive, listener, others):

    def epoll_waiter(ep):
        return lambda: ep.poll(BOUND + 2)

    if case in ("epoll-then-register", "register-then-epoll", "reregister"):
        def body(ready, report):
            if case == "epoll-then-register":
                ep = epoll_for(listener, exclusive)
                register(listener, 0)
            elif case == "register-then-epoll":
                register(listener, 0)
                ep = epoll_for(listener, exclusive)
            else:
                register(listener, 0)
                ep = epoll_for(listener, exclusive)
                register(listener, DEREGISTER)
                register(listener, 1)
            os.write(ready, b"ready\n")
            wait_and_accept(epoll_waiter(ep), listener, report)
        owner, ready, report = worker(body)
    elif case == "taken-over":
        def poll_in_thread():
            # Waits on the listener all along, first as the owner of queue 0, then without a
            # queue (it must not take the wake-up meant for queue 0's next owner).
            ep = epoll_for(listener, exclusive)
            threading.Thread(target=lambda: ep.poll(3 * BOUND), daemon=True).start()

        def body_b(ready, report):
            register(listener, 0)
            ep = epoll_for(listener, exclusive)
            os.write(ready, b"ready\n")
            wait_and_accept(epoll_waiter(ep), listener, report)
        owner, ready, report = take_over(listener, others, poll_in_thread, body_b)
    elif case in ("poll-register", "select-register"):
        def body(ready, report):
            def registrar():
                time.sleep(0.5)
                register(listener, 0)
                os.write(ready, b"ready\n")
            threading.Thread(target=registrar, daemon=True).start()
            if case == "poll-register":
                p = select.poll()
                p.register(listener.fileno(), select.POLLIN)
                waiter = lambda: p.poll((BOUND + 2) * 1000)  # noqa: E731
            else:
                waiter = lambda: select.select([listener], [], [], BOUND + 2)  # noqa: E731
            wait_and_accept(waiter, listener, report)
        owner, ready, report = worker(body)
    elif case == "accept-left-behind":
        def body_b(ready, report):
            register(listener, 0)
            accepted = accept_in_thread(listener)
            os.write(ready, b"ready\n")
            os.write(report, b"accepted\n" if accepted.wait(BOUND + 2) else b"nothing\n")
        # A thread of the first owner stays asleep in accept() after it left queue 0.
        owner, ready, report = take_over(listener, others, lambda: accept_in_thread(listener),
                                         body_b)
    elif case == "option-after-epoll":
        def body(ready, report):
            ep = epoll_for(listener, exclusive)
            turn_on(listener)
            register(listener, 0)
            os.write(ready, b"ready\n")
            wait_and_accept(epoll_waiter(ep), listener, report)
        owner, ready, report = worker(body)
    elif case == "option-after-accept":
        def body(ready, report):
            accepted = accept_in_thread(listener)
            time.sleep(0.5)
            turn_on(listener)
            register(listener, 0)
            os.write(ready, b"ready\n")
            os.write(report, b"accepted\n" if accepted.wait(BOUND + 2) else b"nothing\n")
        owner, ready, report = worker(body)
    else:
        sys.exit(f"unknown case {case}")
    others.append(owner)

    name = case + (" (EPOLLEXCLUSIVE)" if exclusive else "")
    if wait_line(ready, 30) != "ready":
        print(f"FAIL {name}: the owner did not get ready")
        sys.exit(1)
    time.sleep(0.5)  # let the owner reach its wait
    start = time.monotonic()
    client = socket.create_connection(("127.0.0.1", PORT), timeout=BOUND)
    outcome = wait_line(report, BOUND + 4)
    took = time.monotonic() - start
    client.close()
    header, queues = info(listener)
    queue = 1 if case == "reregister" else 0
    parked = (queues[queue]["queued"], queues[queue]["accepted"], header["normal_queued"])
    if parked != (1, 1, 0):
        print(f"FAIL {name}: the connection did not park in queue {queue} and leave it from "
              f"there: queued, accepted, normal queued = {parked}; owner reported {outcome!r} "
              f"after {took:.2f} s; queue {queue}: {queues[queue]}")
        sys.exit(1)
    if outcome == "accepted" and took <= BOUND:
        print(f"ok {name}: parked for the owner, accepted by it after {took:.2f} s")
    else:
        print(f"FAIL {name}: owner reported {outcome!r} after {took:.2f} s (bound {BOUND} s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
