"""Tables of the VM benchmarks, sections 3, 4, 6 and 7 (vm-bench/run.sh runs this on the host).

usage: report.py RAW_DIR OUT_DIR

RAW_DIR is what vm-bench/guest.py wrote in the VM (accept.jsonl, paper.jsonl,
availability.jsonl, reuseport.jsonl and its connection logs, guest.json). Writes
OUT_DIR/vm-accept.{md,csv}, OUT_DIR/vm-paper.{md,csv}, OUT_DIR/vm-availability.{md,csv} and
OUT_DIR/vm-reuseport.{md,csv} and prints the tables. Every
result is a ratio against an anchor measured in the same boot; nothing here judges a number.
"""
import csv
import json
import os
import statistics
import sys


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def rate(client):
    return client["completed"] / client["duration_s"]


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def stickiness(client):
    """% of the client addresses with at least two answered connections that were all answered
    by one worker (an address with one connection says nothing either way)."""
    seen = [sum(1 for n in counts if n) for counts in client["per_source"].values() if sum(counts) >= 2]
    return 100.0 * sum(1 for k in seen if k == 1) / len(seen) if seen else None


def accept_row(runs):
    """One (workers, mode) cell from its rounds: rates and latencies are the median over the
    rounds, counts are summed."""
    workers = runs[0]["workers"]
    per_worker = [0] * workers
    wakeups = accepted = 0
    kernel_wakeups = None
    for run in runs:
        for w in run["server"]["per_worker"]:
            per_worker[w["index"]] += w["accepted"]
            wakeups += w["wakeups"]
            accepted += w["accepted"]
        slh = run["server"].get("slh")
        if slh and run["wait"] == "blocking":
            kernel_wakeups = (kernel_wakeups or 0) + sum(q["wakeups"] for q in slh["queues"])
    total = sum(per_worker) or 1
    stick = [s for s in (stickiness(run["client"]) for run in runs) if s is not None]
    return {
        "workers": workers,
        "label": runs[0]["label"],
        "mode": runs[0]["mode"],
        "wait": runs[0]["wait"],
        "rounds": len(runs),
        "conn_s": statistics.median(rate(r["client"]) for r in runs),
        "conn_s_rounds": [round(rate(r["client"]), 1) for r in runs],
        "p99_ms": statistics.median(r["client"]["latency_us"]["p99"] for r in runs) / 1000,
        "p50_ms": statistics.median(r["client"]["latency_us"]["p50"] for r in runs) / 1000,
        "stickiness": statistics.mean(stick) if stick else None,
        "shares": [100.0 * n / total for n in per_worker],
        "wakeups_per_accept": wakeups / accepted if accepted else None,
        "kernel_wakeups_per_accept": kernel_wakeups / accepted if kernel_wakeups is not None and accepted else None,
        "errors": sum(r["client"]["connect_errors"] + r["client"]["io_errors"] + r["client"]["unidentified"]
                      for r in runs),
    }


MODE_NAMES = {
    "a": "(a) shared listener, epoll",
    "a-excl": "(a') shared listener, epoll + EPOLLEXCLUSIVE",
    "b": "(b) SO_REUSEPORT + BPF by client IP, epoll",
    "c": "(c) SO_SOCKLEVELHASH, epoll",
    "a-blocking": "(a) shared listener, blocking accept",
    "b-blocking": "(b) SO_REUSEPORT + BPF by client IP, blocking accept",
    "c-blocking": "(c) SO_SOCKLEVELHASH, blocking accept",
}
# (family, mode c, anchor a, anchor b)
FAMILIES = [("epoll", "c", "a", "b"), ("epoll, a = EPOLLEXCLUSIVE", "c", "a-excl", "b"),
            ("blocking accept", "c-blocking", "a-blocking", "b-blocking")]


def section3(raw, out, settings, lines):
    runs = load_jsonl(f"{raw}/accept.jsonl")
    if not runs:
        lines.append("Section 3 (accept path): no results (the guest did not run it).")
        return
    cells = {}
    for run in runs:
        cells.setdefault((run["workers"], run["label"]), []).append(run)
    rows = {key: accept_row(group) for key, group in cells.items()}
    order = [m for m in MODE_NAMES if any(k[1] == m for k in rows)]
    workers = sorted({k[0] for k in rows})

    with open(f"{out}/vm-accept.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workers", "mode", "listener", "wait", "rounds", "conn_per_s_median", "conn_per_s_rounds",
                    "p50_ms", "p99_ms", "stickiness_pct", "worker_shares_pct", "wakeups_per_accept",
                    "kernel_wakeups_per_accept", "client_errors"])
        for n in workers:
            for m in order:
                r = rows.get((n, m))
                if r:
                    w.writerow([n, m, r["mode"], r["wait"], r["rounds"], f"{r['conn_s']:.1f}",
                                " ".join(map(str, r["conn_s_rounds"])), f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                                fmt(r["stickiness"], 1), " ".join(f"{s:.1f}" for s in r["shares"]),
                                fmt(r["wakeups_per_accept"], 3), fmt(r["kernel_wakeups_per_accept"], 3),
                                r["errors"]])

    md = ["# VM benchmark: the accept path (section 3)", "",
          f"Pre-fork server (`vm-bench/accept_server.c`) with W workers in network namespace `srv`, "
          f"load from `vm-bench/loadgen.c` in namespace `cl` over a veth: {settings.get('clients', 256)} client "
          f"addresses used in turn, {settings.get('accept_concurrency')} connections in flight, each "
          f"connect → \"worker I\" sent by the server at once → close (the server speaks first, the "
          f"shortest exchange); {settings.get('accept_warmup_s')} s warm-up then "
          f"{settings.get('accept_seconds')} s measured per mode, {settings.get('accept_rounds')} rounds "
          f"(mode order reversed every other round), one boot of our kernel under TCG with "
          f"{settings.get('cpus', '?')} vCPUs. Rates and latencies: median over the rounds; counts: summed.", "",
          "- conn/s: connections answered per second (client side)",
          "- sticky: % of client addresses (with ≥ 2 connections) that were all answered by one worker",
          "- shares: % of the connections each worker accepted",
          "- wake/acc: times a worker slept and was woken inside its wait call (epoll_wait or accept; "
          "voluntary context switches across the call) per accepted connection; "
          "kernel: the module's own count of the owner's wake-ups in a blocking accept (mode c)",
          "- p99: connect() to first byte of the response", ""]
    md.append("| W | mode | conn/s | sticky % | shares % | wake/acc | p50 ms | p99 ms | client errors |")
    md.append("|---:|---|---:|---:|---|---:|---:|---:|---:|")
    for n in workers:
        for m in order:
            r = rows.get((n, m))
            if not r:
                continue
            wake = fmt(r["wakeups_per_accept"], 3)
            if r["kernel_wakeups_per_accept"] is not None:
                wake += f" (kernel {r['kernel_wakeups_per_accept']:.3f})"
            md.append(f"| {n} | {MODE_NAMES[m]} | {r['conn_s']:.0f} | {fmt(r['stickiness'], 1)} | "
                      f"{'/'.join(f'{s:.0f}' for s in r['shares'])} | {wake} | {r['p50_ms']:.2f} | "
                      f"{r['p99_ms']:.2f} | {r['errors']} |")
    md += ["", "Ratios of (c) against its anchors, same boot (conn/s: > 1 is faster; p99: < 1 is faster):", "",
           "| W | family | conn/s (c)/(a) | conn/s (c)/(b) | p99 (c)/(a) | p99 (c)/(b) | "
           "sticky (a) → (c) | wake/acc (a) → (c) |",
           "|---:|---|---:|---:|---:|---:|---|---|"]
    summary = ["| W | family | conn/s (c)/(a) | conn/s (c)/(b) | p99 (c)/(a) | p99 (c)/(b) | sticky % (a)/(b)/(c) |",
               "|---:|---|---:|---:|---:|---:|---|"]
    for n in workers:
        for fam, c, a, b in FAMILIES:
            rc, ra, rb = rows.get((n, c)), rows.get((n, a)), rows.get((n, b))
            if not (rc and ra and rb):
                continue
            md.append(f"| {n} | {fam} | {fmt(ratio(rc['conn_s'], ra['conn_s']))} | "
                      f"{fmt(ratio(rc['conn_s'], rb['conn_s']))} | {fmt(ratio(rc['p99_ms'], ra['p99_ms']))} | "
                      f"{fmt(ratio(rc['p99_ms'], rb['p99_ms']))} | {fmt(ra['stickiness'], 0)} → "
                      f"{fmt(rc['stickiness'], 0)} | {fmt(ra['wakeups_per_accept'], 3)} → "
                      f"{fmt(rc['wakeups_per_accept'], 3)} |")
            summary.append(f"| {n} | {fam} | {fmt(ratio(rc['conn_s'], ra['conn_s']))} | "
                           f"{fmt(ratio(rc['conn_s'], rb['conn_s']))} | {fmt(ratio(rc['p99_ms'], ra['p99_ms']))} | "
                           f"{fmt(ratio(rc['p99_ms'], rb['p99_ms']))} | {fmt(ra['stickiness'], 0)}/"
                           f"{fmt(rb['stickiness'], 0)}/{fmt(rc['stickiness'], 0)} |")
    md += ["", "Per-round rates and every count: [vm-accept.csv](vm-accept.csv)."]
    with open(f"{out}/vm-accept.md", "w") as f:
        f.write("\n".join(md) + "\n")
    lines.append("== 3. accept path in the VM: (c) SO_SOCKLEVELHASH against (a) a shared listener and "
                 "(b) SO_REUSEPORT + BPF, same boot (docs/results/vm-accept.md)")
    lines += summary


PAPER = {"2-same": (8, 36), "3-different": (107, 168)}
CONFIG_NAMES = {
    "1-one-worker": "(1) one worker",
    "2-same": "(2) two workers, every client hashes to one",
    "3-different": "(3) two workers, clients hash to both",
    "stock-two-workers": "two workers without the shim (stock shared queue)",
}


def section4(raw, out, settings, lines):
    runs = [r for r in load_jsonl(f"{raw}/paper.jsonl") if r["config"] != "probe"]
    probe = [r for r in load_jsonl(f"{raw}/paper.jsonl") if r["config"] == "probe"]
    if not runs:
        lines.append("Section 4 (the paper's experiment 2): no results (the guest did not run it).")
        return
    by = {}
    for run in runs:
        by.setdefault(run["config"], []).append(run)
    rows = {}
    for config, group in by.items():
        per_worker = {}
        for run in group:
            for wid, counts in zip(run["client"]["worker_ids"], zip(*run["client"]["per_source"].values())):
                per_worker[wid] = per_worker.get(wid, 0) + sum(counts)
        total = sum(per_worker.values()) or 1
        rows[config] = {
            "req_s": statistics.median(rate(r["client"]) for r in group),
            "req_s_rounds": [round(rate(r["client"]), 2) for r in group],
            "conn_s": statistics.median(r["client"]["connects"] / r["client"]["duration_s"] for r in group),
            "p99_ms": statistics.median(r["client"]["latency_us"]["p99"] for r in group) / 1000,
            "shares": sorted((100.0 * n / total for n in per_worker.values()), reverse=True),
            "clients": len(group[0]["sources"]),
            "errors": sum(r["client"]["connect_errors"] + r["client"]["io_errors"] + r["client"]["unidentified"]
                          for r in group),
        }
    one = rows.get("1-one-worker")
    with open(f"{out}/vm-paper.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["config", "requests_per_s_median", "requests_per_s_rounds", "connections_per_s_median",
                    "p99_ms", "worker_shares_pct", "client_addresses", "client_errors",
                    "throughput_vs_1", "conn_rate_vs_1"])
        for config in CONFIG_NAMES:
            r = rows.get(config)
            if r:
                w.writerow([config, f"{r['req_s']:.2f}", " ".join(map(str, r["req_s_rounds"])), f"{r['conn_s']:.2f}",
                            f"{r['p99_ms']:.1f}", " ".join(f"{s:.1f}" for s in r["shares"]), r["clients"], r["errors"],
                            fmt(ratio(r["req_s"], one and one["req_s"]), 3),
                            fmt(ratio(r["conn_s"], one and one["conn_s"]), 3)])

    def pct(x):
        return "–" if x is None else f"{100 * (x - 1):+.0f} %"

    table = ["| configuration | requests/s | connections/s | worker shares % | p99 ms | throughput vs (1) | "
             "connection rate vs (1) | paper (HAProxy, 2 vCPUs) |",
             "|---|---:|---:|---|---:|---:|---:|---|"]
    for config, name in CONFIG_NAMES.items():
        r = rows.get(config)
        if not r:
            continue
        paper = PAPER.get(config)
        table.append(f"| {name} | {r['req_s']:.1f} | {r['conn_s']:.1f} | {'/'.join(f'{s:.0f}' for s in r['shares'])} | "
                     f"{r['p99_ms']:.0f} | {pct(ratio(r['req_s'], one and one['req_s']))} | "
                     f"{pct(ratio(r['conn_s'], one and one['conn_s']))} | "
                     f"{'–' if not paper else f'+{paper[0]} % / +{paper[1]} %'} |")
    probe_note = ""
    if probe:
        p = probe[0]["client"]
        seen = [sum(1 for n in c if n) for c in p["per_source"].values() if sum(c)]
        probe_note = (f"The probe ({settings.get('probe_seconds')} s of cheap requests to the two-worker server) "
                      f"answered {len(seen)} of {len(p['per_source'])} client addresses, "
                      f"{sum(1 for k in seen if k == 1)} of them by one worker only. ")
    md = ["# VM benchmark: the paper's experiment 2 (section 4)", "",
          "An unmodified pre-fork server (`vm-bench/prefork_server.py`: Python, blocking `accept()`, one "
          f"PBKDF2-HMAC-SHA256 of {settings.get('paper_iterations')} rounds per request) started with "
          "`LD_PRELOAD=libslh_preload.so`, which enables the option at `listen()` and registers each worker "
          f"before its first `accept()`; like Apache on Linux the server sets `TCP_DEFER_ACCEPT`, so a "
          f"connection is queued once its request is there. Load: `loadgen`, {settings.get('paper_concurrency')} HTTP/1.0 "
          f"requests in flight (one per connection) from {settings.get('paper_clients')} client addresses, "
          f"{settings.get('paper_warmup_s')} s warm-up then {settings.get('paper_seconds')} s measured, "
          f"{settings.get('paper_rounds')} rounds of the four configurations in turn (median shown). "
          + probe_note +
          "(2) uses addresses the probe saw answered by one worker only, all by the same one; (3) half "
          "of them from each worker. The paper ran HAProxy in front of httpd on 2-vCPU VMs with siege "
          "(throughput in bytes/s, connection rate in transactions/s); here every connection carries one "
          "request and the response size is fixed, so requests/s is the throughput and the two "
          "ratios can differ only by the connections whose response did not end in the window.", ""]
    md += table
    md += ["", "Per-round rates: [vm-paper.csv](vm-paper.csv)."]
    with open(f"{out}/vm-paper.md", "w") as f:
        f.write("\n".join(md) + "\n")
    lines.append("== 4. the paper's experiment 2 in the VM: unmodified pre-fork server under the shim "
                 "(docs/results/vm-paper.md)")
    lines += table


def availability_row(runs):
    """One configuration of section 6 from its rounds: latencies and stickiness are medians
    over the rounds, kernel counters are summed."""
    first = runs[0]
    spilled = expired = overflowed = demotions = promotions = normal = 0
    slow_share = []
    for run in runs:
        slh = run["server"].get("slh")
        if slh:
            expired += sum(q["expired"] for q in slh["queues"])
            overflowed += sum(q["overflowed"] for q in slh["queues"])
            demotions += sum(q["demotions"] for q in slh["queues"])
            promotions += sum(q["promotions"] for q in slh["queues"])
            normal += slh["normal_accepted"]
        per_worker = {w["index"]: w["accepted"] for w in run["server"]["per_worker"]}
        slow_share.append(100.0 * per_worker.get(0, 0) / (sum(per_worker.values()) or 1))
    spilled = expired + overflowed
    completed = sum(run["client"]["completed"] for run in runs)
    stick = [s for s in (stickiness(run["client"]) for run in runs) if s is not None]
    return {
        "label": first["label"], "mode": first["mode"], "max_wait_ms": first["max_wait_ms"],
        "slow_ms": first["slow_ms"], "rounds": len(runs),
        "conn_s": statistics.median(rate(run["client"]) for run in runs),
        "p50_ms": statistics.median(run["client"]["latency_us"]["p50"] / 1000 for run in runs),
        "p99_ms": statistics.median(run["client"]["latency_us"]["p99"] / 1000 for run in runs),
        "stickiness": statistics.median(stick) if stick else None,
        "slow_share": statistics.median(slow_share),
        "spilled_pct": 100.0 * spilled / completed if completed else None,
        "expired": expired, "overflowed": overflowed, "normal_accepted": normal,
        "demotions": demotions, "promotions": promotions,
        "errors": sum(run["client"]["connect_errors"] + run["client"]["io_errors"] + run["client"]["unidentified"]
                      for run in runs),
    }


def section6(raw, out, settings, lines):
    runs = load_jsonl(f"{raw}/availability.jsonl")
    if not runs:
        lines.append("Section 6 (availability): no results (the guest did not run it).")
        return
    groups = {}
    for run in runs:
        groups.setdefault(run["label"], []).append(run)
    rows = [availability_row(group) for group in groups.values()]
    # shared, strict, the waits in increasing order, healthy last.
    rows.sort(key=lambda r: (r["label"] != "shared", r["label"] != "strict", r["slow_ms"] == 0,
                             r["max_wait_ms"] or 0))
    with open(f"{out}/vm-availability.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["config", "listener", "max_wait_ms", "slow_worker_ms", "rounds", "conn_per_s", "p50_ms",
                    "p99_ms", "stickiness_pct", "slow_worker_share_pct", "spilled_pct", "expired", "overflowed",
                    "normal_accepted", "demotions", "promotions", "client_errors"])
        for r in rows:
            w.writerow([r["label"], r["mode"], "" if r["max_wait_ms"] is None else r["max_wait_ms"], r["slow_ms"],
                        r["rounds"], f"{r['conn_s']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                        fmt(r["stickiness"], 1), f"{r['slow_share']:.1f}", fmt(r["spilled_pct"], 2),
                        r["expired"], r["overflowed"], r["normal_accepted"], r["demotions"], r["promotions"],
                        r["errors"]])
    table = ["| config | max_wait ms | conn/s | p50 ms | p99 ms | sticky % | slow worker's share % | "
             "spilled % | demotions / promotions |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        table.append(f"| {r['label']} | {'–' if r['max_wait_ms'] is None else r['max_wait_ms']} | "
                     f"{r['conn_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {fmt(r['stickiness'], 1)} | "
                     f"{r['slow_share']:.1f} | {fmt(r['spilled_pct'], 1)} | {r['demotions']} / {r['promotions']} |")
    md = ["# VM benchmark: stickiness against availability (section 6)", "",
          f"Four blocking workers (`vm-bench/accept_server.c`), worker 0 slow: it pauses "
          f"{settings.get('avail_slow_ms')} ms after each connection it serves, as a worker busy with "
          f"other work does. The same closed-loop load from 64 client addresses "
          f"(`vm-bench/loadgen.c`, {settings.get('avail_concurrency')} connections in flight, "
          f"{settings.get('avail_warmup_s')} s warm-up, {settings.get('avail_seconds')} s measured, "
          f"{settings.get('avail_rounds')} rounds, order reversed every other round) against a shared "
          f"listener, `SO_SOCKLEVELHASH` in the strict mode (`max_wait_ms = 0`) and with each bounded "
          f"wait; `healthy-200` is the default wait with no slow worker. One boot of our kernel under "
          f"TCG with {settings.get('cpus', '?')} vCPUs: compare rows, not absolute times.", "",
          "- p50/p99: connect() to the first byte of the answer (the server speaks first)",
          "- sticky: % of client addresses (≥ 2 connections) all answered by one worker",
          "- slow worker's share: % of the connections worker 0 served (a quarter of the clients hash to it)",
          "- spilled: connections moved to the normal queue (expired after max_wait, or beyond a queue's "
          "share) per answered connection",
          "- demotions / promotions: times an owner went on standby and came back (kernel counters)", "",
          "The curve: `vm-availability.png` (stickiness and p99 against max_wait, the strict mode and the "
          "shared listener as horizontal lines).", ""] + table
    with open(f"{out}/vm-availability.md", "w") as f:
        f.write("\n".join(md) + "\n")
    lines.append("== 6. stickiness against availability: one slow worker of four (docs/results/vm-availability.md)")
    lines += table


RP_DESIGNS = {
    "slh": "SO_SOCKLEVELHASH, unmodified server + shim",
    "rp-mod": "SO_REUSEPORT + eBPF, bucket mod N slots",
    "rp-table": "SO_REUSEPORT + eBPF, table kept by the master",
}
RP_SCENARIOS = {
    "killed": "worker killed (replaced {respawn} s later)",
    "removed": "worker killed, not replaced (4 → 3)",
    "added": "worker added (4 → 5)",
    "stopped": "worker stopped (SIGSTOP)",
    "reload": "reload (4 new workers, old ones exit)",
}


def read_conn_log(path):
    """loadgen's LOADGEN_LOG: (start, end, source, worker or None, how) per connection."""
    conns = []
    with open(path) as f:
        for line in f:
            start, end, source, worker, how = line.split()
            conns.append((float(start), float(end), int(source), None if worker == "-" else worker, how))
    conns.sort()
    return conns


def reuseport_row(run, raw):
    """One scenario under one design: what was lost and moved after the event, and when every
    client was sticky again."""
    t_event = run["event_at"]
    conns = read_conn_log(f"{raw}/{run['log']}")
    sources = run["client"]["sources"]
    spawned = [(t, e) for t, e in run["events"] if e and e[0] == "spawned"]
    slot_pid = {}
    for t, e in spawned:
        if t <= t_event:
            slot_pid[int(e[1])] = e[2]
    scenario = run["scenario"]
    if scenario in ("killed", "removed", "stopped"):
        affected = {slot_pid[1]}
    elif scenario == "reload":
        affected = set(slot_pid.values())
    else:
        affected = set()
    before = [c for c in conns if c[1] < t_event]
    after = [c for c in conns if c[0] >= t_event]
    t_first = conns[0][0] if conns else t_event
    t_last = conns[-1][1] if conns else t_event
    ok_before = [c for c in before if c[4] == "ok"]
    ok_after = [c for c in conns if c[1] >= t_event and c[4] == "ok"]
    rate_before = len(ok_before) / (t_event - t_first) if t_event > t_first else None
    rate_after = len(ok_after) / (t_last - t_event) if t_last > t_event else None
    # Home: the worker that served most of a client's connections before the event.
    home = {}
    votes = {}
    for c in ok_before:
        votes.setdefault(c[2], {}).setdefault(c[3], 0)
        votes[c[2]][c[3]] += 1
    sticky_before = sum(1 for v in votes.values() if len(v) == 1)
    for src, v in votes.items():
        home[src] = max(v, key=v.get)
    per_source = {}
    for c in conns:
        per_source.setdefault(c[2], []).append(c)
    final = {src: next((c[3] for c in reversed(cs) if c[4] == "ok"), None) for src, cs in per_source.items()}
    changed = [src for src in home if final.get(src) is not None and final[src] != home[src]]
    bystanders = [src for src in home if home[src] not in affected]
    changed_bystanders = [src for src in changed if home[src] not in affected]
    # Sticky again: from the first connection of each client's last run of connections all
    # answered by one worker (no failure in between) to the end; every client needs two
    # connections in that run, else it was not sticky again by the end.
    settled_at = t_event
    unsettled = 0
    for src, cs in per_source.items():
        run_len = 0
        start = None
        for c in reversed(cs):
            if c[4] != "ok" or c[3] != final[src]:
                break
            run_len += 1
            start = c[0]
        if run_len < 2:
            unsettled += 1
        elif run_len < len(cs):
            settled_at = max(settled_at, start)
    # Clients that connected after the event and never got an answer again.
    unanswered = sum(1 for cs in per_source.values()
                     if any(c[0] >= t_event for c in cs) and all(c[4] != "ok" for c in cs if c[0] >= t_event))
    lost = {how: sum(1 for c in conns if c[1] >= t_event and c[4] == how)
            for how in ("refused", "reset", "timeout", "noid")}
    deaths = [t for t, e in run["events"] if e and e[0] == "died" and t and t >= t_event]
    revisit = sources / rate_before if rate_before else None
    sticky_s = None if unsettled else settled_at - t_event
    return {
        "scenario": scenario, "design": run["design"], "sources": sources,
        "connections_after": len(after), "lost": sum(lost.values()), "lost_by_kind": lost,
        "unanswered_clients": unanswered,
        "lost_before": sum(1 for c in before if c[4] != "ok"),
        "clients": len(home), "sticky_before": sticky_before,
        "changed": len(changed), "bystanders": len(bystanders), "changed_bystanders": len(changed_bystanders),
        "affected_clients": len(home) - len(bystanders),
        "unsettled": unsettled, "sticky_after_s": sticky_s,
        "sticky_after_rounds": sticky_s / revisit if sticky_s is not None and revisit else None,
        "revisit_s": revisit, "rate_before": rate_before, "rate_after": rate_after,
        "rate_ratio": ratio(rate_after, rate_before),
        "after_s": t_last - t_event, "death_seen_s": deaths[0] - t_event if deaths else None,
        "spawn_events": len(spawned),
    }


def section7(raw, out, settings, lines):
    runs = load_jsonl(f"{raw}/reuseport.jsonl")
    if not runs:
        lines.append("Section 7 (against SO_REUSEPORT + eBPF): no results (the guest did not run it).")
        return
    rows = [reuseport_row(run, raw) for run in runs]
    order = list(RP_SCENARIOS)
    designs = list(RP_DESIGNS)
    rows.sort(key=lambda r: (order.index(r["scenario"]), designs.index(r["design"])))
    respawn = settings.get("rp_respawn_s")
    with open(f"{out}/vm-reuseport.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "design", "client_addresses", "sticky_before", "connections_after_event",
                    "lost", "refused", "reset", "timed_out", "no_answer", "clients_never_answered_after",
                    "lost_before_event",
                    "clients_moved", "bystanders", "bystanders_moved", "affected_clients",
                    "sticky_again_after_s_emulated", "sticky_again_after_client_rounds", "clients_not_sticky_at_end",
                    "client_round_s_emulated", "conn_per_s_before", "conn_per_s_after", "rate_after_over_before",
                    "after_window_s"])
        for r in rows:
            k = r["lost_by_kind"]
            w.writerow([r["scenario"], r["design"], r["sources"], r["sticky_before"], r["connections_after"],
                        r["lost"], k["refused"], k["reset"], k["timeout"], k["noid"], r["unanswered_clients"],
                        r["lost_before"],
                        r["changed"], r["bystanders"], r["changed_bystanders"], r["affected_clients"],
                        fmt(r["sticky_after_s"], 2), fmt(r["sticky_after_rounds"], 2), r["unsettled"],
                        fmt(r["revisit_s"], 2), fmt(r["rate_before"], 1), fmt(r["rate_after"], 1),
                        fmt(r["rate_ratio"], 2), fmt(r["after_s"], 1)])

    def sticky(r):
        if r["sticky_after_s"] is None:
            return f"not by the end ({r['unsettled']} clients)"
        if r["sticky_after_s"] == 0:
            return "never lost"
        return f"{r['sticky_after_s']:.1f} s = {r['sticky_after_rounds']:.1f} rounds"

    table = ["| scenario | design | lost (of after) | bystanders moved | clients moved | sticky again after | "
             "conn/s after / before |",
             "|---|---|---:|---:|---:|---|---:|"]
    for r in rows:
        k = r["lost_by_kind"]
        kinds = ", ".join(f"{n} {name}" for name, n in (("refused", k["refused"]), ("reset", k["reset"]),
                                                         ("timed out", k["timeout"]), ("no answer", k["noid"])) if n)
        if r["unanswered_clients"]:
            kinds += f"; {r['unanswered_clients']} clients never answered again"
        by = "–" if not r["bystanders"] else f"{r['changed_bystanders']} of {r['bystanders']}"
        table.append(f"| {RP_SCENARIOS[r['scenario']].format(respawn=respawn)} | {RP_DESIGNS[r['design']]} | "
                     f"{r['lost']} of {r['connections_after']}{f' ({kinds})' if kinds else ''} | {by} | "
                     f"{r['changed']} of {r['clients']} | {sticky(r)} | {fmt(r['rate_ratio'], 2)} |")
    md = ["# VM benchmark: against SO_REUSEPORT + eBPF + tcp_migrate_req (section 7)", "",
          f"{settings.get('rp_workers')} workers of a Python pre-fork server (`vm-bench/churn_server.py`) that "
          f"answer \"worker PID\" and close, under a closed-loop load from {settings.get('rp_clients')} client "
          f"addresses (`vm-bench/loadgen.c`, {settings.get('rp_concurrency')} connections in flight, a "
          f"connection that has no answer after {settings.get('rp_timeout_ms')} ms counts as timed out). After "
          f"{settings.get('rp_warmup_s')} s of warm-up and {settings.get('rp_before_s')} s of steady load, one "
          f"event; {settings.get('rp_after_s')} s more load. Designs:", "",
          "- **SO_SOCKLEVELHASH**: one listener opened by the master, workers in a blocking `accept()`, "
          "the server knows nothing of the option: `LD_PRELOAD=libslh_preload.so` enables it (default "
          "bounded wait 200 ms) and registers each worker.",
          "- **SO_REUSEPORT + eBPF**: each worker opens its own `SO_REUSEPORT` listener after `fork()` and "
          "stores it in its slot of a `REUSEPORT_SOCKARRAY`; an `sk_reuseport` program (loaded for "
          "`BPF_SK_REUSEPORT_SELECT_OR_MIGRATE`, so it also picks for connections that migrate from a "
          "closed listener, `net.ipv4.tcp_migrate_req = 1`) hashes the client's IPv4 address to one of 256 "
          "buckets and reads the slot from a 256-entry array. *bucket mod N*: the array is bucket % slots, "
          "so a new slot renumbers the buckets (the modulo-N program); *table*: the master keeps it as an "
          "indirection table (a dead worker's buckets lent to the live slots until its replacement, a new "
          "slot takes a fair share). A slot whose socket is gone fails the lookup; the program then selects "
          "nothing and the kernel falls back to its own hash of the 4-tuple over the group's sockets "
          "(for a new connection and for a migrating one).", "",
          "Scenarios: worker 1 killed (`SIGKILL`; the master replaces it in its slot "
          f"{respawn} s after it sees the death, as Apache's once-a-second maintenance loop), worker 1 "
          "killed and not replaced (the server shrinks to three; *bucket mod N* becomes bucket mod 3 over "
          "the live slots, the group's own renumbering; *table* keeps the dead slot's buckets lent), a fifth worker "
          "added, worker 1 stopped (`SIGSTOP` for the rest of the run: a wedged worker, alive to the "
          "master), a reload (a new worker per slot; once they listen, the old ones stop accepting, close "
          "their listener and exit).", "",
          "- lost: connections that began or ended after the event and failed (refused, reset, timed out, "
          "or closed without an answer), of the connections begun after it; clients never answered "
          "again: every connection they began after the event failed",
          "- bystanders moved: clients whose worker before the event was not the killed/stopped one (all "
          "clients when one is added; none in a reload, where every worker is new) and that end on another "
          "worker; clients moved: all clients whose last worker is not the one that served them before",
          "- sticky again after: from the event to the first connection of the last client to settle, "
          "every client then answered by one worker to the end (≥ 2 connections each); in emulated seconds "
          "(TCG) and in client rounds (the time each client takes to come back, client addresses / "
          "connections per second before the event, same run)",
          "- conn/s after / before: the throughput after the event against before, same run", "",
          f"One boot of our kernel under TCG with {settings.get('cpus', '?')} vCPUs; each row is one run. "
          "Every count and time: [vm-reuseport.csv](vm-reuseport.csv). What it means: "
          "[analysis.md](analysis.md#against-so_reuseport--ebpf-in-the-vm).", ""] + table
    md += ["", "Servers each design serves unmodified: SO_SOCKLEVELHASH any pre-fork server whose workers "
           "share one listener (Apache prefork/worker, nginx without `reuseport`, gunicorn, php-fpm, this "
           "Python server) through the shim, nothing rebuilt or reconfigured; SO_REUSEPORT + eBPF only a "
           "server that opens one listener per worker (nginx with `reuseport`, HAProxy, Envoy), and even "
           "then someone must load the program, attach it and fill the socket array with each worker's "
           "socket in its slot (the server itself, or a loader that takes the sockets from it with "
           "`pidfd_getfd()`), and keep the table when workers come and go."]
    with open(f"{out}/vm-reuseport.md", "w") as f:
        f.write("\n".join(md) + "\n")
    lines.append("== 7. against SO_REUSEPORT + eBPF + tcp_migrate_req: workers killed, added, stopped, "
                 "reloaded (docs/results/vm-reuseport.md)")
    lines += table


def main():
    raw, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    guest = {}
    if os.path.exists(f"{raw}/guest.json"):
        with open(f"{raw}/guest.json") as f:
            guest = json.load(f)
    settings = dict(guest.get("settings", {}), cpus=guest.get("cpus"))
    lines = []
    section3(raw, out, settings, lines)
    lines.append("")
    section4(raw, out, settings, lines)
    lines.append("")
    section6(raw, out, settings, lines)
    lines.append("")
    section7(raw, out, settings, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
