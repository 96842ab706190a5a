"""Runs inside the VM (vm-bench/run.sh boots it): sections 3 and 4 of the VM benchmarks.

usage: guest.py BIN_DIR PRELOAD OUT_DIR

BIN_DIR holds accept_server and loadgen (compiled on the host), PRELOAD is libslh_preload.so,
OUT_DIR (writable from the guest) receives one JSON object per line in accept.jsonl and
paper.jsonl; vm-bench/report.py turns them into tables on the host. Durations and sizes come
from the environment (defaults below) so that a quick trial run can shorten them.
"""
import ctypes
import json
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"

SERVER_ADDR = "198.18.0.1"
CLIENT_PREFIX = "198.18.1."
CLIENT_COUNT = 256

WORKER_COUNTS = [int(w) for w in os.environ.get("VMB_WORKERS", "1 2 4").split()]
ACCEPT_WARMUP = float(os.environ.get("VMB_ACCEPT_WARMUP", "1"))
ACCEPT_SECONDS = float(os.environ.get("VMB_ACCEPT_SECONDS", "5"))
ACCEPT_CONCURRENCY = int(os.environ.get("VMB_ACCEPT_CONCURRENCY", "32"))
PAPER_WARMUP = float(os.environ.get("VMB_PAPER_WARMUP", "2"))
PAPER_SECONDS = float(os.environ.get("VMB_PAPER_SECONDS", "12"))
PAPER_CONCURRENCY = int(os.environ.get("VMB_PAPER_CONCURRENCY", "8"))
PAPER_ITERATIONS = int(os.environ.get("VMB_PAPER_ITERATIONS", "4000"))
PAPER_CLIENTS = int(os.environ.get("VMB_PAPER_CLIENTS", "32"))
PROBE_SECONDS = float(os.environ.get("VMB_PROBE_SECONDS", "4"))

ACCEPT_ROUNDS = int(os.environ.get("VMB_ACCEPT_ROUNDS", "2"))
# Section 6, availability: the bounded wait against the strict mode and a shared listener.
AVAIL_WAITS = [int(w) for w in os.environ.get("VMB_AVAIL_WAITS", "5 10 20 50 100 200 500 1000").split()]
AVAIL_SLOW_MS = int(os.environ.get("VMB_AVAIL_SLOW_MS", "20"))
AVAIL_WORKERS = 4
AVAIL_WARMUP = float(os.environ.get("VMB_AVAIL_WARMUP", "1"))
AVAIL_SECONDS = float(os.environ.get("VMB_AVAIL_SECONDS", "6"))
AVAIL_CONCURRENCY = int(os.environ.get("VMB_AVAIL_CONCURRENCY", "16"))
AVAIL_ROUNDS = int(os.environ.get("VMB_AVAIL_ROUNDS", "2"))
PAPER_ROUNDS = int(os.environ.get("VMB_PAPER_ROUNDS", "2"))
# Section 7, against the strongest alternative: SO_REUSEPORT + eBPF + tcp_migrate_req.
RP_WORKERS = int(os.environ.get("VMB_RP_WORKERS", "4"))
RP_CLIENTS = int(os.environ.get("VMB_RP_CLIENTS", "256"))
RP_CONCURRENCY = int(os.environ.get("VMB_RP_CONCURRENCY", "16"))
RP_WARMUP = float(os.environ.get("VMB_RP_WARMUP", "1"))
RP_BEFORE = float(os.environ.get("VMB_RP_BEFORE", "6"))
RP_AFTER = float(os.environ.get("VMB_RP_AFTER", "12"))
RP_TIMEOUT_MS = int(os.environ.get("VMB_RP_TIMEOUT_MS", "2000"))
RP_RESPAWN_S = float(os.environ.get("VMB_RP_RESPAWN_S", "1"))
RP_SCENARIOS = os.environ.get("VMB_RP_SCENARIOS", "killed removed added stopped reload").split()
RP_DESIGNS = os.environ.get("VMB_RP_DESIGNS", "slh rp-mod rp-table").split()

# (mode label, accept_server mode, wait style), two families: workers waiting in epoll
# (nginx, ...) and in a blocking accept() (Apache prefork, gunicorn sync, ...).
#   a: one shared listener (a-excl: with EPOLLEXCLUSIVE), b: SO_REUSEPORT with a BPF program
#   picking the socket by client address, c: SO_SOCKLEVELHASH.
ACCEPT_MODES = [
    ("a", "shared", "epoll"),
    ("a-excl", "shared", "epollexcl"),
    ("b", "reuseport", "epoll"),
    ("c", "slh", "epoll"),
    ("a-blocking", "shared", "blocking"),
    ("b-blocking", "reuseport", "blocking"),
    ("c-blocking", "slh", "blocking"),
]

SO_SOCKLEVELHASH_INFO = 83
SYS_PIDFD_GETFD = 438


def log(*args):
    print("vm-bench:", *args, file=sys.stderr, flush=True)


def ip_batch(netns, lines):
    cmd = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    subprocess.run(cmd, input="\n".join(lines) + "\n", text=True, check=True)


def topology():
    """srv and cl namespaces joined by one veth; cl holds the 256 client addresses."""
    ip_batch(None, ["netns add srv", "netns add cl",
                    "link add veth0 netns cl type veth peer name veth0 netns srv"])
    ip_batch("srv", ["link set lo up", f"addr add {SERVER_ADDR}/16 dev veth0", "link set veth0 up"])
    ip_batch("cl", ["link set lo up", "addr add 198.18.0.2/16 dev veth0", "link set veth0 up"]
             + [f"addr add {CLIENT_PREFIX}{k}/16 dev veth0" for k in range(CLIENT_COUNT)])
    subprocess.run(["ip", "netns", "exec", "cl", "sysctl", "-q",
                    "net.ipv4.ip_local_port_range=1024 65000"], check=True)
    return [f"{CLIENT_PREFIX}{k}" for k in range(CLIENT_COUNT)]


def write_sources(path, addresses):
    with open(path, "w") as f:
        f.write("\n".join(addresses) + "\n")
    return path


def loadgen(bin_dir, port, sources, concurrency, warmup, seconds, request=None):
    cmd = ["ip", "netns", "exec", "cl", f"{bin_dir}/loadgen", SERVER_ADDR, str(port), sources,
           str(concurrency), str(warmup), str(seconds)] + ([request] if request else [])
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def start_server(cmd):
    server = subprocess.Popen(["ip", "netns", "exec", "srv"] + cmd, stdout=subprocess.PIPE, text=True)
    ready = server.stdout.readline()
    if not ready.startswith("ready"):
        server.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {ready!r}")
    return server, ready.split()[1:]


def stop_server(server):
    server.terminate()
    out, _ = server.communicate(timeout=30)
    return out


def listener_fd(pid, port):
    """The descriptor in process `pid` of the TCP socket listening on `port`."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return int(fd)
    raise RuntimeError(f"process {pid} has no socket listening on port {port}")


def slh_info(pid, port):
    """SO_SOCKLEVELHASH_INFO of another process's listener (pidfd_getfd, as `slh info` does)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, listener_fd(pid, port), 0)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    # Through libc: Python's getsockopt() takes at most 1,024 bytes, the shim's 64 queues
    # need 40 + 256 * 72.
    buf = ctypes.create_string_buffer(40 + 72 * 1024)
    size = ctypes.c_uint32(len(buf))
    try:
        if libc.getsockopt(fd, socket.SOL_SOCKET, SO_SOCKLEVELHASH_INFO, buf, ctypes.byref(size)):
            raise OSError(ctypes.get_errno(), "getsockopt(SO_SOCKLEVELHASH_INFO)")
    finally:
        os.close(fd)
    raw = buf.raw[:size.value]
    queues, hash_fn, hash_input, registered, normal_queued, normal_accepted = struct.unpack_from("<IIIIQQ", raw)
    rows = []
    for offset in range(40, len(raw) - 71, 72):
        owner, depth, queued, accepted, moved, wakeups, expired, overflowed = struct.unpack_from("<iIQQQQQQ", raw, offset)
        rows.append({"owner_pid": owner, "depth": depth, "queued": queued, "accepted": accepted,
                     "moved": moved, "wakeups": wakeups, "expired": expired, "overflowed": overflowed})
    return {"queues": queues, "hash": hash_fn, "input": hash_input, "registered": registered,
            "normal_queued": normal_queued, "normal_accepted": normal_accepted, "queue_rows": rows}


def wait_registered(pid, port, count, timeout=30):
    deadline = time.time() + timeout
    while True:
        info = slh_info(pid, port)
        if info["registered"] == count:
            return info
        if time.time() > deadline:
            raise RuntimeError(f"only {info['registered']} of {count} workers registered")
        time.sleep(0.2)


def accept_run(bin_dir, args, port, sources, concurrency, warmup, seconds, env=None):
    """One accept_server (`args`: mode, workers, wait style; `env`: its settings) under one
    load: (loadgen's result, the server's counts)."""
    prefix = ["env"] + [f"{k}={v}" for k, v in env.items()] if env else []
    server, _ = start_server(prefix + [f"{bin_dir}/accept_server"] + args + [SERVER_ADDR, str(port)])
    try:
        client = loadgen(bin_dir, port, sources, concurrency, warmup, seconds)
    finally:
        counts = json.loads(stop_server(server))
    return client, counts


def accept_path(bin_dir, out_dir, clients):
    """Section 3: every mode at every worker count, one server per run, same client load.
    Rounds alternate the order of the modes, so that a drift of the machine's speed (the other
    work on the host) does not favour one mode."""
    sources = write_sources(f"{out_dir}/accept-sources.txt", clients)
    port = 8000
    with open(f"{out_dir}/accept.jsonl", "w") as results:
        for rnd in range(1, ACCEPT_ROUNDS + 1):
            for workers in WORKER_COUNTS:
                modes = ACCEPT_MODES if rnd % 2 else ACCEPT_MODES[::-1]
                for label, mode, wait in modes:
                    port += 1
                    client, counts = accept_run(bin_dir, [mode, str(workers), wait], port, sources,
                                                ACCEPT_CONCURRENCY, ACCEPT_WARMUP, ACCEPT_SECONDS)
                    log(f"accept round {rnd} W={workers} {label:<10} "
                        f"{client['completed'] / client['duration_s']:8.1f} conn/s"
                        f"  p99 {client['latency_us']['p99'] / 1000:.1f} ms")
                    results.write(json.dumps({"round": rnd, "label": label, "mode": mode, "wait": wait,
                                              "workers": workers, "client": client,
                                              "server": counts}) + "\n")
                    results.flush()


def availability(bin_dir, out_dir, clients):
    """Section 6: four blocking workers, worker 0 slow (it pauses AVAIL_SLOW_MS after each
    connection); the same closed-loop load against a shared listener, the strict mode and each
    bounded wait, and once with no slow worker (healthy, the default wait): stickiness and the
    time from connect() to the answer as functions of max_wait."""
    sources = write_sources(f"{out_dir}/avail-sources.txt", clients[:64])
    configs = ([("shared", "shared", None, AVAIL_SLOW_MS), ("strict", "slh", 0, AVAIL_SLOW_MS)]
               + [(f"wait-{w}", "slh", w, AVAIL_SLOW_MS) for w in AVAIL_WAITS]
               + [("healthy-200", "slh", 200, 0)])
    port = 9000
    with open(f"{out_dir}/availability.jsonl", "w") as results:
        for rnd in range(1, AVAIL_ROUNDS + 1):
            for label, mode, max_wait, slow in (configs if rnd % 2 else configs[::-1]):
                port += 1
                env = {"SLOW_WORKER_MS": str(slow)}
                if max_wait is not None:
                    env["SLH_MAX_WAIT_MS"] = str(max_wait)
                client, counts = accept_run(bin_dir, [mode, str(AVAIL_WORKERS), "blocking"], port,
                                            sources, AVAIL_CONCURRENCY, AVAIL_WARMUP, AVAIL_SECONDS,
                                            env)
                log(f"availability round {rnd} {label:<12} "
                    f"p50 {client['latency_us']['p50'] / 1000:7.1f} ms  p99 {client['latency_us']['p99'] / 1000:7.1f} ms")
                results.write(json.dumps({"round": rnd, "label": label, "mode": mode,
                                          "max_wait_ms": max_wait, "slow_ms": slow,
                                          "client": client, "server": counts}) + "\n")
                results.flush()


def paper_experiment(bin_dir, preload, out_dir, clients):
    """Section 4: experiment 2 of the paper with an unmodified Python pre-fork server.

    Three servers run side by side (idle when not loaded): two workers under the shim, one
    worker under the shim, two workers without it (the stock reference). A cheap probe
    request (no hashing) finds which worker of the two-worker server answers each address;
    then the configurations run in rounds: (1) the one-worker server, (2) the two-worker
    server with clients that all reach one worker, (3) the same server with half of the
    clients on each worker, and the stock server with the clients of (3)."""
    shim = ["env", f"LD_PRELOAD={preload}"]
    request = "GET / HTTP/1.0\r\nHost: vm-bench\r\n\r\n"
    light = "GET /light HTTP/1.0\r\nHost: vm-bench\r\n\r\n"
    ports = {"two": 9001, "one": 9002, "stock": 9003}

    def server_cmd(port, workers, prefix=()):
        return list(prefix) + [PYTHON, "-I", "-S", f"{HERE}/prefork_server.py", SERVER_ADDR, str(port),
                               str(workers), str(PAPER_ITERATIONS)]

    def run(config, port, sources, concurrency=PAPER_CONCURRENCY, warmup=PAPER_WARMUP,
            seconds=PAPER_SECONDS, req=request):
        client = loadgen(bin_dir, port, write_sources(f"{out_dir}/paper-{config}.txt", sources),
                         concurrency, warmup, seconds, req)
        log(f"paper {config:<18} {client['completed'] / client['duration_s']:7.2f} requests/s"
            f"  {len(sources)} client addresses")
        return client

    servers = []
    try:
        # `ip netns exec` and `env` exec the server: the Popen pid is the server's parent,
        # which holds the listener.
        two, _ = start_server(server_cmd(ports["two"], 2, shim))
        servers.append(two)
        one, _ = start_server(server_cmd(ports["one"], 1, shim))
        servers.append(one)
        stock, _ = start_server(server_cmd(ports["stock"], 2))
        servers.append(stock)
        wait_registered(two.pid, ports["two"], 2)
        wait_registered(one.pid, ports["one"], 1)
        with open(f"{out_dir}/paper.jsonl", "w") as results:
            def record(config, rnd, workers, shim_on, sources, client, info=None):
                results.write(json.dumps({"config": config, "round": rnd, "workers": workers,
                                          "shim": shim_on, "sources": sources, "client": client,
                                          "slh": info}) + "\n")
                results.flush()

            probe = run("probe", ports["two"], clients, concurrency=16, warmup=0,
                        seconds=PROBE_SECONDS, req=light)
            record("probe", 0, 2, True, clients, probe)
            by_worker = {}
            for address, answered in probe["per_source"].items():
                seen = [probe["worker_ids"][w] for w, n in enumerate(answered) if n]
                if len(seen) == 1:
                    by_worker.setdefault(seen[0], []).append(address)
            groups = sorted(by_worker.values(), key=len, reverse=True)
            if len(groups) < 2 or len(groups[1]) < PAPER_CLIENTS // 2 or len(groups[0]) < PAPER_CLIENTS:
                raise RuntimeError(f"probe: addresses per worker {[len(g) for g in groups]}, "
                                   f"need {PAPER_CLIENTS} and {PAPER_CLIENTS // 2}")
            same = groups[0][:PAPER_CLIENTS]
            different = [a for pair in zip(groups[0][:PAPER_CLIENTS // 2], groups[1][:PAPER_CLIENTS // 2])
                         for a in pair]
            for rnd in range(1, PAPER_ROUNDS + 1):
                record("1-one-worker", rnd, 1, True, different,
                       run("1-one-worker", ports["one"], different), slh_info(one.pid, ports["one"]))
                record("2-same", rnd, 2, True, same, run("2-same", ports["two"], same),
                       slh_info(two.pid, ports["two"]))
                record("3-different", rnd, 2, True, different,
                       run("3-different", ports["two"], different), slh_info(two.pid, ports["two"]))
                record("stock-two-workers", rnd, 2, False, different,
                       run("stock-two-workers", ports["stock"], different))
    finally:
        for server in servers:
            stop_server(server)


def reuseport_comparison(bin_dir, preload, out_dir, clients):
    """Section 7: SO_SOCKLEVELHASH (an unmodified pre-fork server under the shim) against one
    SO_REUSEPORT socket per worker with an eBPF program choosing by client address and
    net.ipv4.tcp_migrate_req = 1 (vm-bench/churn_server.py, modes rp-mod and rp-table). Each
    scenario, for each design in turn: RP_WORKERS workers under a closed-loop load, then at
    RP_BEFORE seconds one worker killed (replaced RP_RESPAWN_S later), one killed and not
    replaced, a worker added, one
    stopped (SIGSTOP for the rest of the run) or a reload; loadgen logs every connection
    (which worker, or how it failed) for report.py."""
    sources = write_sources(f"{out_dir}/rp-sources.txt", clients[:RP_CLIENTS])
    subprocess.run(["ip", "netns", "exec", "srv", "sysctl", "-q", "net.ipv4.tcp_migrate_req=1"], check=True)
    commands = {"killed": "kill 1", "removed": "remove 1", "added": "add", "stopped": "stop 1",
                "reload": "reload"}
    port = 9500
    # The first server and load of the boot run slower (cold caches): one run, not measured.
    warm = subprocess.Popen(["ip", "netns", "exec", "srv", "env", f"LD_PRELOAD={preload}", PYTHON, "-I", "-S",
                             f"{HERE}/churn_server.py", "shared", SERVER_ADDR, str(port), str(RP_WORKERS)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    while not warm.stdout.readline().startswith("ready"):
        pass
    loadgen(bin_dir, port, sources, RP_CONCURRENCY, 0, 3)
    warm.communicate("quit\n", timeout=60)
    with open(f"{out_dir}/reuseport.jsonl", "w") as results:
        for n, scenario in enumerate(RP_SCENARIOS):
            for design in (RP_DESIGNS if n % 2 == 0 else RP_DESIGNS[::-1]):
                port += 1
                prefix = ["env", f"RESPAWN_S={RP_RESPAWN_S}"]
                if design == "slh":
                    prefix.append(f"LD_PRELOAD={preload}")
                mode = "shared" if design == "slh" else design
                server = subprocess.Popen(["ip", "netns", "exec", "srv"] + prefix
                                          + [PYTHON, "-I", "-S", f"{HERE}/churn_server.py", mode, SERVER_ADDR,
                                             str(port), str(RP_WORKERS)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                # The server's lines with the time they arrived, read by a thread so that a
                # worker's death and replacement are timed while the load runs.
                lines = queue.Queue()
                events = []

                def read_lines(stream=server.stdout, lines=lines, events=events):
                    for line in stream:
                        events.append([time.monotonic(), line.split()])
                        lines.put(line)
                    lines.put("")

                reader = threading.Thread(target=read_lines, daemon=True)
                reader.start()

                def wait_line(prefix, what, lines=lines):
                    while True:
                        line = lines.get(timeout=120)
                        if not line:
                            raise RuntimeError(f"churn_server {design} {what}")
                        if line.startswith(prefix):
                            return

                try:
                    wait_line("ready", "did not start")
                    if design == "slh":
                        wait_registered(server.pid, port, RP_WORKERS)
                    log_path = f"{out_dir}/rp-{scenario}-{design}.log"
                    env = dict(os.environ, LOADGEN_LOG=log_path, LOADGEN_TIMEOUT_MS=str(RP_TIMEOUT_MS))
                    started = time.monotonic()
                    client = subprocess.Popen(["ip", "netns", "exec", "cl", f"{bin_dir}/loadgen", SERVER_ADDR,
                                               str(port), sources, str(RP_CONCURRENCY), str(RP_WARMUP),
                                               str(RP_BEFORE + RP_AFTER)],
                                              stdout=subprocess.PIPE, text=True, env=env)
                    time.sleep(max(0.0, started + RP_WARMUP + RP_BEFORE - time.monotonic()))
                    event_at = time.monotonic()
                    server.stdin.write(commands[scenario] + "\n")
                    server.stdin.flush()
                    wait_line("done", f"stopped during {scenario}")
                    done_at = time.monotonic()
                    out, _ = client.communicate(timeout=RP_AFTER + 120)
                    info = slh_info(server.pid, port) if design == "slh" else None
                finally:
                    if server.poll() is None:
                        try:
                            server.stdin.write("quit\n")
                            server.stdin.flush()
                        except OSError:
                            pass
                    server.wait(timeout=60)
                    reader.join(timeout=10)
                result = json.loads(out)
                lost = result["connect_errors"] + result["io_errors"] + result["unidentified"] + result["timed_out"]
                log(f"reuseport {scenario:<8} {design:<9} {result['completed'] / result['duration_s']:6.1f} conn/s"
                    f"  {lost} lost")
                results.write(json.dumps({"scenario": scenario, "design": design, "command": commands[scenario],
                                          "event_at": event_at, "done_at": done_at,
                                          "events": events, "log": os.path.basename(log_path),
                                          "client": result, "slh": info}) + "\n")
                results.flush()
    subprocess.run(["ip", "netns", "exec", "srv", "sysctl", "-q", "net.ipv4.tcp_migrate_req=0"], check=True)


def main():
    bin_dir, preload, out_dir = sys.argv[1:4]
    sections = os.environ.get("VMB_SECTIONS", "3 4 6 7").split()
    started = time.time()
    clients = topology()
    if "3" in sections:
        accept_path(bin_dir, out_dir, clients)
    log(f"section 3 took {time.time() - started:.0f} s")
    paper_started = time.time()
    if "4" in sections:
        paper_experiment(bin_dir, preload, out_dir, clients)
    log(f"section 4 took {time.time() - paper_started:.0f} s")
    avail_started = time.time()
    if "6" in sections:
        availability(bin_dir, out_dir, clients)
    log(f"section 6 took {time.time() - avail_started:.0f} s")
    rp_started = time.time()
    if "7" in sections:
        reuseport_comparison(bin_dir, preload, out_dir, clients)
    log(f"section 7 took {time.time() - rp_started:.0f} s")
    settings = {"workers": WORKER_COUNTS, "clients": len(clients), "accept_rounds": ACCEPT_ROUNDS,
                "accept_warmup_s": ACCEPT_WARMUP, "accept_seconds": ACCEPT_SECONDS,
                "accept_concurrency": ACCEPT_CONCURRENCY, "paper_rounds": PAPER_ROUNDS,
                "paper_warmup_s": PAPER_WARMUP, "paper_seconds": PAPER_SECONDS,
                "paper_concurrency": PAPER_CONCURRENCY, "paper_iterations": PAPER_ITERATIONS,
                "paper_clients": PAPER_CLIENTS, "probe_seconds": PROBE_SECONDS,
                "avail_waits_ms": AVAIL_WAITS, "avail_slow_ms": AVAIL_SLOW_MS,
                "avail_workers": AVAIL_WORKERS, "avail_warmup_s": AVAIL_WARMUP,
                "avail_seconds": AVAIL_SECONDS, "avail_concurrency": AVAIL_CONCURRENCY,
                "avail_rounds": AVAIL_ROUNDS, "rp_workers": RP_WORKERS, "rp_clients": RP_CLIENTS,
                "rp_concurrency": RP_CONCURRENCY, "rp_warmup_s": RP_WARMUP, "rp_before_s": RP_BEFORE,
                "rp_after_s": RP_AFTER, "rp_timeout_ms": RP_TIMEOUT_MS, "rp_respawn_s": RP_RESPAWN_S}
    with open(f"{out_dir}/guest.json", "w") as f:
        json.dump({"section3_s": round(paper_started - started),
                   "section4_s": round(avail_started - paper_started),
                   "section6_s": round(rp_started - avail_started),
                   "section7_s": round(time.time() - rp_started),
                   "cpus": os.cpu_count(), "kernel": os.uname().release, "settings": settings}, f)


if __name__ == "__main__":
    main()
