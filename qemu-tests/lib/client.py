#!/usr/bin/env python3
"""A test client that opens long-lived connections on command and reports who answered.

usage: client.py ADDR PORT [SRC]
Connects to ADDR PORT, from the source address SRC if given (else the kernel picks one).
Reads commands on stdin, one per line:
  open N   open N connections one after the other; for each, wait for the server's name
           and print it on its own line; then print "done". Connections stay open.
  short N  N short connections one after the other: connect, print the server's name,
           close; then print "done".
  close    close every open connection, print "done".
  from SRC later connections bind to the source address SRC ("from any": the kernel picks
           again); print "done". Open connections keep their address.
  to ADDR [PORT]  later connections go to ADDR (and PORT; else the same port); print "done".
  quit     exit.
A connection that fails prints "error <reason>" in place of a name.
"""
import socket
import sys


def connect(family, addr, port, src=None):
    """One connection: print who answered and return the socket, or print the error."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        if src is not None:
            s.bind((src, 0))
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


def main() -> None:
    addr, port = sys.argv[1], int(sys.argv[2])
    src = sys.argv[3] if len(sys.argv) > 3 else None
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    open_conns = []
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] in ("open", "short"):
            for _ in range(int(cmd[1])):
                s = connect(family, addr, port, src)
                if s is None:
                    continue
                if cmd[0] == "open":
                    open_conns.append(s)
                else:
                    s.close()
        elif cmd[0] == "close":
            for s in open_conns:
                s.close()
            open_conns.clear()
        elif cmd[0] == "from":
            src = None if cmd[1] == "any" else cmd[1]
        elif cmd[0] == "to":
            addr = cmd[1]
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            if len(cmd) > 2:
                port = int(cmd[2])
        elif cmd[0] == "quit":
            break
        print("done", flush=True)


if __name__ == "__main__":
    main()
