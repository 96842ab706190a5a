#!/usr/bin/env python3
"""A test client that opens long-lived connections on command and reports who answered.

usage: client.py ADDR PORT [SRC]
Connects to ADDR PORT, from the source address SRC if given (else the kernel picks one).
Reads commands on stdin, one per line:
  open N   open N connections one after the other; for each, wait for the server's name
           and print it on its own line; then print "done". Connections stay open.
  short N  N short connections one after the other: connect, print the server's name,
           close; then print "done".
  burst N  N connections at once (each connects without waiting for the others), then print
           the server's name of each in the order they were opened, close them all and print
           "done": the schedulers that hash a key and read no load do not care about the
           order, and a burst costs one round trip instead of N.
  close    close every open connection, print "done".
  from SRC later connections bind to the source address SRC ("from any": the kernel picks
           again); print "done". Open connections keep their address.
  from SRC1,SRC2,...  later connections bind to these addresses in turn, one per connection.
  ports BASE  later connections bind to source ports BASE, BASE + 1, ... in turn ("ports any":
           the kernel picks): the same ports in every run, for schedulers that hash them.
  to ADDR [PORT]  later connections go to ADDR (and PORT; else the same port); print "done".
  pace S   after a connection fails, wait S seconds before the next one (default 0): a
           client refused at once would otherwise retry in a tight loop.
  quit     exit.
A connection that fails prints "error <reason>" in place of a name.
"""
import selectors
import socket
import sys
import time


def connect(family, addr, port, src=None, sport=0):
    """One connection: print who answered and return the socket, or print the error."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        if src is not None or sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((src or "", sport))
        s.connect((addr, port))
        name = b""
        while not name.endswith(b"\n"):
            chunk = s.recv(64)
            if not chunk:
                raise ConnectionError("closed before a name")
            name += chunk
        print(name.decode().strip(), flush=True)
        return s
    except OSError as e:
        print(f"error {e}", flush=True)
        s.close()
        return None


def drop_queued_errors(s):
    """Empties the socket's error queue."""
    while True:
        try:
            s.recvmsg(0, 512, socket.MSG_ERRQUEUE)
        except OSError:  # EAGAIN: empty
            return


def burst(family, addr, port, ends):
    """Connections from each (source address, source port) of ENDS at once; prints the name
    (or "error REASON") of each, in order."""
    socks, names, sel = [], {}, selectors.DefaultSelector()
    for src, sport in ends:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            if src is not None or sport:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((src or "", sport))
            s.connect_ex((addr, port))
            sel.register(s, selectors.EVENT_READ, b"")
        except OSError as e:
            names[s] = f"error {e}"
        socks.append(s)
    deadline = time.monotonic() + 30
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                chunk = s.recv(64)
            except BlockingIOError:
                # Ready with neither data nor an error: a refusal (ICMP port unreachable)
                # that arrived while the socket's own connect() held it is only queued on the
                # error queue (IPv4: tcp_v4_err() in SYN_SENT), the socket still connecting.
                # Its SYN goes again a second later and gets the connection's answer, as on
                # the other paths (IPv6, blocking connect()): drop the queued error and wait.
                drop_queued_errors(s)
                continue
            except OSError as e:
                names[s] = f"error {e}"
                sel.unregister(s)
                continue
            got = key.data + chunk
            if got.endswith(b"\n") or not chunk:
                names[s] = got.decode().strip() if chunk else "error closed before a name"
                sel.unregister(s)
            else:
                sel.modify(s, selectors.EVENT_READ, got)
    for s in socks:
        print(names.get(s, "error timed out"), flush=True)
        s.close()


def main() -> None:
    addr, port = sys.argv[1], int(sys.argv[2])
    src = sys.argv[3] if len(sys.argv) > 3 else None
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    open_conns = []
    sources = [src]
    turn = 0
    port_base = 0
    pace = 0.0
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] in ("open", "short"):
            for _ in range(int(cmd[1])):
                sport = port_base + turn if port_base else 0
                s = connect(family, addr, port, sources[turn % len(sources)], sport)
                turn += 1
                if s is None:
                    time.sleep(pace)
                    continue
                if cmd[0] == "open":
                    open_conns.append(s)
                else:
                    s.close()
        elif cmd[0] == "burst":
            n = int(cmd[1])
            ends = [(sources[(turn + k) % len(sources)], port_base + turn + k if port_base else 0)
                    for k in range(n)]
            turn += n
            burst(family, addr, port, ends)
        elif cmd[0] == "close":
            for s in open_conns:
                s.close()
            open_conns.clear()
        elif cmd[0] == "from":
            sources = [None] if cmd[1] == "any" else cmd[1].split(",")
            turn = 0
        elif cmd[0] == "ports":
            port_base = 0 if cmd[1] == "any" else int(cmd[1])
            turn = 0
        elif cmd[0] == "to":
            addr = cmd[1]
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            if len(cmd) > 2:
                port = int(cmd[2])
        elif cmd[0] == "pace":
            pace = float(cmd[1])
        elif cmd[0] == "quit":
            break
        print("done", flush=True)


if __name__ == "__main__":
    main()
