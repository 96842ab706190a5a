#!/usr/bin/python3 -IS
"""The client of the transparent-cache tests: connects to many destination addresses (a trace's
targets) on one port, in one process (under TCG every exec costs about half a second), and
records which real server answered each connection.

usage: trace_client.py PORT
Reads commands on stdin, one per line; each ends with a line "done":
  targets TRACE COUNT OUT [PREFIX6]
          read the destination addresses of TRACE (column 6, space separated, in trace order)
          and write the first COUNT valid unicast IPv4 addresses to OUT, one per line; with
          PREFIX6 (an IPv6 /96 such as 2001:db8:ff::), write PREFIX6 + the IPv4 address instead.
          Addresses that are not global-looking unicast (multicast, class E, loopback, 0/8,
          link-local, 198.18.0.0/15 which the test topology uses) are skipped and reported.
          Prints "kept N skipped M lines L" and one "skipped ADDR (REASON)" line per reason.
  replay IN OUT
          one short connection to each address of IN in turn: connect, read the server's name,
          half-close, wait for the server to close, close. Writes "ADDR NAME" per connection to
          OUT ("ADDR error REASON" on failure). Waiting for the server's FIN makes the director's
          view deterministic: when the next connection is scheduled, the previous one has left
          ESTABLISHED (it counts as inactive) on every path.
          Prints "connections N errors E".
  hold IN OUT [COUNT]
          one connection to each address of IN (the first COUNT), kept open; writes
          "ADDR NAME" to OUT.
  pick IN SERVERS OUT [LIMIT]
          the distinct addresses that IN (a replay's OUT) maps to one of SERVERS (a comma
          separated list), in order of first appearance, to OUT (the first LIMIT of them).
          Prints their number.
  close   close every held connection (half-close, wait for the server's FIN, close).
  quit    exit.
"""
import errno
import ipaddress
import socket
import sys

TEST_NET = ipaddress.ip_network("198.18.0.0/15")
ZERO_NET = ipaddress.ip_network("0.0.0.0/8")


def unusable(a):
    """Why an IPv4 address cannot be a destination of the replay, or None."""
    if a.is_multicast:
        return "multicast"
    if a.is_reserved:
        return "reserved (240.0.0.0/4)"
    if a.is_loopback:
        return "loopback"
    if a in ZERO_NET:
        return "this-network (0.0.0.0/8)"
    if a.is_link_local:
        return "link-local"
    if a in TEST_NET:
        return "the test topology's range 198.18.0.0/15"
    return None


def targets(trace, count, out, prefix6=None):
    base = int(ipaddress.IPv6Address(prefix6)) if prefix6 else None
    kept = []
    skipped = {}
    lines = 0
    with open(trace) as f:
        for line in f:
            if len(kept) >= count:
                break
            lines += 1
            cols = line.split()
            if len(cols) < 6:
                skipped.setdefault("fewer than 6 columns", []).append(line.strip())
                continue
            try:
                a = ipaddress.IPv4Address(cols[5])
            except ValueError:
                skipped.setdefault("not an IPv4 address", []).append(cols[5])
                continue
            why = unusable(a)
            if why:
                skipped.setdefault(why, []).append(cols[5])
                continue
            kept.append(str(ipaddress.IPv6Address(base | int(a))) if base is not None else str(a))
    with open(out, "w") as f:
        f.writelines(a + "\n" for a in kept)
    print(f"kept {len(kept)} skipped {sum(len(v) for v in skipped.values())} lines {lines}")
    for why, addrs in skipped.items():
        print(f"skipped {len(addrs)} {why}: e.g. {' '.join(addrs[:3])}")


# Every connection of the process gets a source port of its own, from a rolling counter: the
# real servers see only the client's address and port (NAT), so two connections from one port
# to two targets on the same server would be one connection to the server; and a new
# connection never meets IPVS's entry (TIME_WAIT, 120 s) of an old one with its 4-tuple.
FIRST_PORT, LAST_PORT = 20000, 60999
next_port = FIRST_PORT


def bind_next(s, family):
    global next_port
    for _ in range(LAST_PORT - FIRST_PORT + 1):
        port = next_port
        next_port = FIRST_PORT if port == LAST_PORT else port + 1
        try:
            s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
            return
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no free source port")


def connect(addr, port):
    """One connection to ADDR: (socket, server name) or (None, 'error REASON')."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(20)
    try:
        bind_next(s, family)
        s.connect((addr, port))
        name = b""
        while not name.endswith(b"\n"):
            chunk = s.recv(64)
            if not chunk:
                raise ConnectionError("closed before a name")
            name += chunk
        return s, name.decode().strip()
    except OSError as e:
        s.close()
        return None, f"error {e}"


def finish(s):
    """Half-close, wait for the server to close its side, close."""
    try:
        s.shutdown(socket.SHUT_WR)
        while s.recv(64):
            pass
    finally:
        s.close()


def read_lines(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def replay(port, src, out):
    n = errors = 0
    with open(out, "w") as f:
        for (addr, *_) in read_lines(src):
            s, name = connect(addr, port)
            if s is not None:
                try:
                    finish(s)
                except OSError as e:
                    name = f"error after the name: {e}"
            n += 1
            errors += name.startswith("error")
            f.write(f"{addr} {name}\n")
    print(f"connections {n} errors {errors}")


def hold(port, src, out, held, count=None):
    with open(out, "w") as f:
        for (addr, *_) in read_lines(src)[:count]:
            s, name = connect(addr, port)
            if s is not None:
                held.append(s)
            f.write(f"{addr} {name}\n")


def pick(src, servers, out, limit=None):
    servers = servers.split(",")
    seen = {}
    for cols in read_lines(src):
        if len(cols) >= 2 and cols[1] in servers:
            seen.setdefault(cols[0], None)
    picked = list(seen)[:limit]
    with open(out, "w") as f:
        f.writelines(a + "\n" for a in picked)
    print(len(picked))


def main() -> None:
    port = int(sys.argv[1])
    held = []
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "targets":
                targets(cmd[1], int(cmd[2]), cmd[3], cmd[4] if len(cmd) > 4 else None)
            elif cmd[0] == "replay":
                replay(port, cmd[1], cmd[2])
            elif cmd[0] == "hold":
                hold(port, cmd[1], cmd[2], held, int(cmd[3]) if len(cmd) > 3 else None)
            elif cmd[0] == "pick":
                pick(cmd[1], cmd[2], cmd[3], int(cmd[4]) if len(cmd) > 4 else None)
            elif cmd[0] == "close":
                for s in held:
                    finish(s)
                held.clear()
            elif cmd[0] == "quit":
                break
            else:
                print(f"error unknown command {cmd[0]}")
        except (OSError, ValueError, IndexError) as e:
            print(f"error {cmd[0]}: {e}")
        print("done", flush=True)


if __name__ == "__main__":
    main()
