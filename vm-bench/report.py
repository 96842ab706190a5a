"""Tables of the VM benchmarks, sections 3, 4 and 6 (vm-bench/run.sh runs this on the host).

usage: report.py RAW_DIR OUT_DIR

RAW_DIR is what vm-bench/guest.py wrote in the VM (accept.jsonl, paper.jsonl,
availability.jsonl, guest.json). Writes OUT_DIR/vm-accept.{md,csv}, OUT_DIR/vm-paper.{md,csv}
and OUT_DIR/vm-availability.{md,csv} and prints the tables. Every
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
    print("\n".join(lines))


if __name__ == "__main__":
    main()
