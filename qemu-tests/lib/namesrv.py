#!/usr/bin/env python3
"""A real server for the tests: answers every connection with its own name and a newline,
then holds the connection open until the client closes it (long-lived connections).

usage: namesrv.py NAME PORT   (listens on all IPv4 and IPv6 addresses)
"""
import asyncio
import socket
import sys


async def serve(name: bytes, port: int) -> None:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    sock.listen(1024)

    async def handle(reader, writer):
        writer.write(name + b"\n")
        await writer.drain()
        while await reader.read(4096):
            pass
        writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    print("listening", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1].encode(), int(sys.argv[2])))
