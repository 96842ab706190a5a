#!/usr/bin/python3 -IS
"""A FastCGI client for the php-fpm test: many concurrent requests from chosen client
addresses, recording which php-fpm child answered each.

usage: fcgi_client.py CLIENTS ADDR PORT SCRIPT ROUNDS OUT
  ROUNDS rounds; in each, one request from every address of CLIENTS (a file, one address per
  line), at most 64 at once. A request binds (CLIENT, 0), connects to ADDR PORT, sends
  FCGI_BEGIN_REQUEST (responder), the params (SCRIPT_FILENAME=SCRIPT, REQUEST_METHOD=GET) and
  an empty stdin, reads records up to FCGI_END_REQUEST and takes the pid from the body's
  "worker PID". OUT gets "CLIENT PID" per request, "CLIENT error REASON" on failure. Prints
  "requests N answered A errors E".
"""
import re
import socket
import struct
import sys
from concurrent.futures import ThreadPoolExecutor

VERSION, BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 1, 3, 4, 5, 6
RESPONDER = 1


def record(kind, content, request_id=1):
    return struct.pack(">BBHHBx", VERSION, kind, request_id, len(content), 0) + content


def pair(name, value):
    name, value = name.encode(), value.encode()
    return bytes([len(name), len(value)]) + name + value


def recv_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


def request(client, addr, port, script):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.bind((client, 0))
        sock.connect((addr, port))
        params = pair("SCRIPT_FILENAME", script) + pair("REQUEST_METHOD", "GET") + \
            pair("SERVER_PROTOCOL", "HTTP/1.0")
        sock.sendall(record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0)) +
                     record(PARAMS, params) + record(PARAMS, b"") + record(STDIN, b""))
        body = b""
        while True:
            _, kind, _, length, padding = struct.unpack(">BBHHBx", recv_exactly(sock, 8))
            content = recv_exactly(sock, length + padding)[:length]
            if kind == STDOUT:
                body += content
            elif kind == END_REQUEST:
                break
        match = re.search(rb"worker (\d+)", body)
        if not match:
            raise ValueError(f"no worker in {body[:80]!r}")
        return int(match.group(1))


def main():
    clients_file, addr, port, script, rounds, out = sys.argv[1:7]
    with open(clients_file) as f:
        clients = [line.strip() for line in f if line.strip()]
    jobs = [client for _ in range(int(rounds)) for client in clients]

    def run(client):
        try:
            return f"{client} {request(client, addr, int(port), script)}"
        except (OSError, ValueError) as error:
            return f"{client} error {type(error).__name__}"

    with ThreadPoolExecutor(max_workers=64) as pool:
        lines = list(pool.map(run, jobs))
    with open(out, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    errors = sum(" error " in line for line in lines)
    print(f"requests {len(lines)} answered {len(lines) - errors} errors {errors}", flush=True)


if __name__ == "__main__":
    main()
