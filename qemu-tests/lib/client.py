#!/usr/bin/env python3
"""A test client that opens long-lived connections on command and reports who answered.

usage: client.py ADDR PORT
Reads commands on stdin, one per line:
  open N   open N connections one after the other; for each, wait for the server's name
           and print it on its own line; then print "done". Connections stay open.
  short N  N short connections one after the other: connect, print the server's name,
           close; then print "done".
  close    close every open connection, print "done".
  quit     exit.
A connection that fails prints "error <reason>" in place of a name.
"""
import socket
import sys


def connect(family, addr, port):
    """One connection: print who answered and return the socket, or print the error."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
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
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    open_conns = []
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] in ("open", "short"):
            for _ in range(int(cmd[1])):
                s = connect(family, addr, port)
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
        elif cmd[0] == "quit":
            break
        print("done", flush=True)


if __name__ == "__main__":
    main()
