#!/usr/bin/python3 -IS
"""A real server for the tests: answers every connection with its own name and a newline,
then holds the connection open until the client closes it (long-lived connections).

usage: namesrv.py NAME PORT   (listens on all IPv4 and IPv6 addresses)
Only `selectors` and `socket`: Python starts several times faster without asyncio under TCG.
"""
import selectors
import socket
import sys


def main() -> None:
    name, port = sys.argv[1].encode() + b"\n", int(sys.argv[2])
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind(("::", port))
    listener.listen(1024)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    print("listening", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is listener:
                conn, _ = listener.accept()
                conn.sendall(name)
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(sock)
                sock.close()


if __name__ == "__main__":
    main()
