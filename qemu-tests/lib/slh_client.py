#!/usr/bin/python3 -IS
"""The client of the socket-level hash tests: many concurrent connections from chosen client
addresses, in one process (under TCG every exec costs about half a second and a Python start
one to two seconds), recording which worker answered each.

usage: slh_client.py     (commands on stdin; the output of each ends with a line "done")

  run CLIENTS ADDR PORT ROUNDS OUT [OPTION=VALUE...]
        ROUNDS rounds; in each, one connection from every address of CLIENTS (a file, one
        address per line) in file order, so one client's connections are spread over the run;
        at most `concurrency` connections at once. A connection binds (CLIENT, 0), connects to
        ADDR PORT, sends the request, reads to the end and takes the pid from the answer's
        "worker PID". OUT gets "CLIENT PID" per connection, "CLIENT error REASON" on failure.
        Prints "connections N answered A errors E".
        Options:
          concurrency=N  connections in flight (default 64)
          http=1         send "GET / HTTP/1.0" and wait for the server to close (nginx);
                         otherwise send nothing and half-close at once, so a server that
                         lingers until the client closes (slh demo-server) is done as soon as
                         it has answered
          kill=PID every=N [seed=S] [park=SECONDS]
                         every N finished connections kill a random worker (child of PID):
                         SIGSTOP, wait `park` seconds (default 0.05) so that connections park
                         in its queue, note the connections it holds (accepted, not yet
                         answered: /proc/WORKER/fd and /proc/WORKER/net/tcp{,6}), SIGKILL.
                         A connection that fails is then counted as "lost with its worker" if
                         it is one of those, as an error otherwise. Prints
                         "kills K lost_with_worker L" and one "killed PID holding CLIENT:PORT..."
                         line per kill.
          disable=PID after=N
                         after N finished connections, turn SO_SOCKLEVELHASH off on the
                         listener of process PID (taken with pidfd_getfd), in the middle of
                         the run; prints "disabled after N connections"
          timeout=SECONDS  per connection (default 30)

  hold CLIENTS ADDR PORT COUNT
        COUNT connections from each address of CLIENTS, connected (the handshake done: the
        server queued them) and half-closed, their answers not read yet. Prints "held N".

  kill PID
        SIGKILL now; prints "killed PID at T" (T: time.monotonic(), the clock of the server's
        --accept-times).

  signal PID NAME
        sends signal NAME (e.g. SIGCONT) now; prints "signalled PID at T".

  collect OUT [TIMEOUT]
        reads the answers of every held connection (default timeout 30 s); OUT gets
        "CLIENT:PORT PID ARRIVAL" per connection ("CLIENT:PORT error REASON" on failure).
        Prints "answered A errors E".

  quit
"""
import errno
import os
import random
import re
import selectors
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slh_uapi  # noqa: E402  (needs the path above)

WORKER = re.compile(rb"worker (\d+)")
HTTP_REQUEST = b"GET / HTTP/1.0\r\nHost: slh\r\n\r\n"


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_clients(path):
    with open(path) as f:
        return [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]


class Conn:
    """One connection in flight."""

    __slots__ = ("client", "sock", "port", "data", "deadline", "connected")

    def __init__(self, client, sock, deadline):
        self.client = client
        self.sock = sock
        self.port = 0
        self.data = b""
        self.deadline = deadline
        self.connected = False


def start(client, addr, port, timeout):
    """A non-blocking connection from `client` to addr:port, or an error string."""
    s = socket.socket(family_of(addr), socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind((client, 0))
        rc = s.connect_ex((addr, port))
        if rc not in (0, errno.EINPROGRESS):
            raise OSError(rc, os.strerror(rc))
    except OSError as e:
        s.close()
        return f"connect: {e.strerror or e}"
    c = Conn(client, s, time.monotonic() + timeout)
    c.port = s.getsockname()[1]
    return c


def connected(c, http):
    """The connection is established: send the request. Returns an error string or None."""
    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        return f"connect: {os.strerror(err)}"
    c.connected = True
    try:
        if http:
            c.sock.sendall(HTTP_REQUEST)
        else:
            c.sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        return f"send: {e.strerror or e}"
    return None


def readable(c):
    """Reads what is there: None while more is to come, else (pid or None, error or None)."""
    try:
        chunk = c.sock.recv(4096)
    except BlockingIOError:
        return None
    except OSError as e:
        return None, f"recv: {e.strerror or e}"
    if chunk:
        c.data += chunk
        return None
    m = WORKER.search(c.data)
    if m:
        return int(m.group(1)), None
    return None, "closed without an answer" + (f" ({c.data[:60]!r})" if c.data else "")


class Killer:
    """Random worker kills during a run (see the `run` command's kill option)."""

    def __init__(self, parent, every, seed, park):
        self.parent = parent
        self.every = every
        self.park = park
        self.rng = random.Random(seed)
        self.kills = []  # (pid, [client:port held])
        self.held = set()  # (client, port) of connections a killed worker had accepted

    def workers(self):
        """The server's children, by parent pid in /proc/*/stat (no CONFIG_PROC_CHILDREN)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.parent:
                found.append(int(entry))
        return found

    def kill_one(self):
        workers = self.workers()
        if not workers:
            raise RuntimeError(f"server {self.parent} has no worker left")
        pid = self.rng.choice(workers)
        os.kill(pid, signal.SIGSTOP)
        wait_stopped(pid)
        time.sleep(self.park)
        held = connections_of(pid)
        os.kill(pid, signal.SIGKILL)
        self.kills.append((pid, held))
        self.held.update(held)


def wait_stopped(pid):
    """Until /proc/PID/stat says stopped (T): SIGSTOP takes effect asynchronously."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.001)
    raise RuntimeError(f"worker {pid} did not stop")


def proc_net_addr(text, v6):
    """An address of /proc/net/tcp{,6} (32-bit words in host order, hex port)."""
    addr, port = text.split(":")
    raw = b"".join(int(addr[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(addr), 8))
    ip = socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw)
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[len("::ffff:") :]
    return ip, int(port, 16)


def connections_of(pid):
    """The (client address, client port) of every TCP connection process PID holds open (not
    listening sockets); read while it is stopped."""
    inodes = slh_uapi.socket_fds(pid)
    return [proc_net_addr(fields[2], v6) for fields, v6 in slh_uapi.proc_net_tcp(pid)
            if fields[9] in inodes and fields[3] != "0A"]


def run(clients_path, addr, port, rounds, out, options):
    clients = read_clients(clients_path)
    concurrency = int(options.get("concurrency", 64))
    http = options.get("http") == "1"
    timeout = float(options.get("timeout", 30))
    killer = None
    if "kill" in options:
        killer = Killer(int(options["kill"]), int(options["every"]), int(options.get("seed", 1)),
                        float(options.get("park", 0.05)))
    disable_pid = int(options["disable"]) if "disable" in options else None
    disable_after = int(options.get("after", 0))
    disabled_at = None
    todo = ((r, c) for r in range(rounds) for c in clients)
    sel = selectors.DefaultSelector()
    results = []  # (client, port, pid or None, error or None)
    active = 0
    finished = 0
    exhausted = False

    def finish(c, pid, error):
        nonlocal active, finished
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        results.append((c.client, c.port, pid, error))
        active -= 1
        finished += 1

    while True:
        while not exhausted and active < concurrency:
            item = next(todo, None)
            if item is None:
                exhausted = True
                break
            c = start(item[1], addr, port, timeout)
            if isinstance(c, str):
                results.append((item[1], 0, None, c))
                finished += 1
                continue
            sel.register(c.sock, selectors.EVENT_WRITE, c)
            active += 1
        if active == 0:
            break
        now = time.monotonic()
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            if not c.connected:
                error = connected(c, http)
                if error:
                    finish(c, None, error)
                else:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            done = readable(c)
            if done is not None:
                finish(c, *done)
                if killer and finished % killer.every == 0:
                    killer.kill_one()
                if disable_pid is not None and disabled_at is None and finished >= disable_after:
                    listener = slh_uapi.listener_of(disable_pid, port)
                    slh_uapi.set_int(listener, slh_uapi.SO_SOCKLEVELHASH, 0)
                    listener.close()
                    disabled_at = finished
        for key in list(sel.get_map().values()):
            c = key.data
            if now > c.deadline:
                finish(c, None, "timeout")
    sel.close()

    answered = errors = lost = 0
    with open(out, "w") as f:
        for client, cport, pid, error in results:
            if pid is not None:
                answered += 1
                f.write(f"{client} {pid}\n")
            elif killer and (client, cport) in killer.held:
                lost += 1
                f.write(f"{client} lost-with-worker {error}\n")
            else:
                errors += 1
                f.write(f"{client} error {error}\n")
    print(f"connections {len(results)} answered {answered} errors {errors}")
    if disabled_at is not None:
        print(f"disabled after {disabled_at} connections")
    elif disable_pid is not None:
        print("error the run ended before the option was turned off")
    if killer:
        print(f"kills {len(killer.kills)} lost_with_worker {lost}")
        for pid, held in killer.kills:
            print(f"killed {pid} holding " + (" ".join(f"{a}:{p}" for a, p in held) or "nothing"))


held_conns = []


def hold(clients_path, addr, port, count):
    """Connects and half-closes COUNT connections per client; waits until all are connected."""
    pending = []
    for client in read_clients(clients_path):
        for _ in range(count):
            c = start(client, addr, port, 30)
            if isinstance(c, str):
                raise RuntimeError(f"hold from {client}: {c}")
            pending.append(c)
    sel = selectors.DefaultSelector()
    for c in pending:
        sel.register(c.sock, selectors.EVENT_WRITE, c)
    left = len(pending)
    deadline = time.monotonic() + 30
    while left:
        if time.monotonic() > deadline:
            raise RuntimeError(f"hold: {left} connections not established after 30 s")
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            sel.unregister(c.sock)
            error = connected(c, False)
            if error:
                raise RuntimeError(f"hold from {c.client}: {error}")
            left -= 1
    sel.close()
    held_conns.extend(pending)
    print(f"held {len(held_conns)}")


def collect(out, timeout):
    sel = selectors.DefaultSelector()
    for c in held_conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    rows = []
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            done = readable(c)
            if done is None:
                continue
            sel.unregister(c.sock)
            c.sock.close()
            rows.append((c, done, time.monotonic()))
    for key in list(sel.get_map().values()):
        c = key.data
        sel.unregister(c.sock)
        c.sock.close()
        rows.append((c, (None, "timeout"), time.monotonic()))
    sel.close()
    held_conns.clear()
    answered = errors = 0
    with open(out, "w") as f:
        for c, (pid, error), at in rows:
            if pid is not None:
                answered += 1
                f.write(f"{c.client}:{c.port} {pid} {at:.6f}\n")
            else:
                errors += 1
                f.write(f"{c.client}:{c.port} error {error}\n")
    print(f"answered {answered} errors {errors}")


def main() -> None:
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "run":
                options = dict(o.split("=", 1) for o in cmd[6:])
                run(cmd[1], cmd[2], int(cmd[3]), int(cmd[4]), cmd[5], options)
            elif cmd[0] == "hold":
                hold(cmd[1], cmd[2], int(cmd[3]), int(cmd[4]))
            elif cmd[0] == "kill":
                at = time.monotonic()
                os.kill(int(cmd[1]), signal.SIGKILL)
                print(f"killed {cmd[1]} at {at:.6f}")
            elif cmd[0] == "signal":
                at = time.monotonic()
                os.kill(int(cmd[1]), getattr(signal, cmd[2]))
                print(f"signalled {cmd[1]} at {at:.6f}")
            elif cmd[0] == "collect":
                collect(cmd[1], float(cmd[2]) if len(cmd) > 2 else 30.0)
            elif cmd[0] == "quit":
                break
            else:
                print(f"error unknown command {cmd[0]}")
        except Exception as e:  # reported to the test, which fails on it
            print(f"error {type(e).__name__}: {e}")
        print("done", flush=True)


if __name__ == "__main__":
    main()
