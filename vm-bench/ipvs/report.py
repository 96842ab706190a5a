"""Tables of the IPVS scheduler benchmarks, Rust against C (section 5; vm-bench/ipvs/run.sh
runs this on the host).

usage: report.py RAW_TXT OUT_DIR SECONDS [ICOUNT_RAW_TXT]

RAW_TXT holds the guest's lines (vm-bench/ipvs/guest.sh): "schedule k=v ...", "lblc1m k=v ...",
"connrate k=v ...". ICOUNT_RAW_TXT holds the "schedule" lines of the boot under QEMU's
-icount shift=0, where a nanosecond of the guest's clock is one instruction. Writes
OUT_DIR/ipvs-schedule.{md,csv} (and ipvs-schedule-icount.csv), ipvs-connrate.{md,csv},
ipvs-lblc-1m.{md,csv} and prints the tables. Each Rust number is divided by the C number of the
same case measured in the same boot (medians over the rounds, which alternate the order; for
schedule() also the fastest batch of 256 calls).
Reports only: nothing here fails because a ratio missed its goal.
"""
import csv
import os
import statistics
import sys

# What the run measured on (scripts/env.sh).
KERNEL = os.environ.get("SLH_KERNEL_DESC", "our kernel")

SCHEDS = ["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "lblc", "lblcr", "dh", "sh", "mh"]
# The schedulers that take the service's sched_lock in every call, C and Rust alike.
LOCKED = {"rr", "wrr"}


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words or words[0] not in ("schedule", "schedule_baseline", "lblc1m", "connrate"):
                continue
            row = {"kind": words[0]}
            for w in words[1:]:
                if "=" in w:
                    k, v = w.split("=", 1)
                    row[k] = v
            rows.append(row)
    return rows


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def goal_note(r, goal, below):
    if r is None:
        return "not measured"
    met = r <= goal if below else r >= goal
    return ("met" if met else "missed") + f" ({'≤' if below else '≥'} {goal})"


def schedule(rows, out, lines):
    cases = {}
    for r in rows:
        if r["kind"] == "schedule" and int(r["calls"]):
            cases.setdefault((r["sched"], int(r["dests"]), r["impl"]), []).append(r)
    table = ["| scheduler | real servers | C ns/call | Rust ns/call | Rust / C | rounds (C / Rust) "
             "| fastest batch C / Rust, ns/call | Rust / C, fastest | goal ≤ 1.05 (fastest / median) |",
             "|---|---:|---:|---:|---:|---|---|---:|---|"]
    with open(f"{out}/ipvs-schedule.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scheduler", "dests", "c_ns_per_call", "rust_ns_per_call", "rust_over_c", "c_rounds",
                    "rust_rounds", "c_best_ns_per_call", "rust_best_ns_per_call", "rust_over_c_best",
                    "c_module", "rust_module", "refused_calls"])
        for sched in SCHEDS:
            for n in sorted({k[1] for k in cases if k[0] == sched}):
                per = {}
                best = {}
                mods = {}
                refused = 0
                for impl in ("c", "rust"):
                    runs = cases.get((sched, n, impl), [])
                    per[impl] = [int(r["ns"]) / int(r["calls"]) for r in runs]
                    # The fastest full batch of any round (older raw files have none).
                    bests = [int(r["best_batch_ns"]) / int(r["batch"]) for r in runs
                             if int(r.get("best_batch_ns", 0))]
                    best[impl] = min(bests) if bests else None
                    mods[impl] = runs[0]["module"] if runs else "?"
                    refused += sum(int(r["refused"]) for r in runs)
                c, rust = median(per["c"]), median(per["rust"])
                q = ratio(rust, c)
                qb = ratio(best["rust"], best["c"])
                w.writerow([sched, n, fmt(c, 1), fmt(rust, 1), fmt(q, 3),
                            " ".join(f"{x:.1f}" for x in per["c"]), " ".join(f"{x:.1f}" for x in per["rust"]),
                            fmt(best["c"], 1), fmt(best["rust"], 1), fmt(qb, 3),
                            mods["c"], mods["rust"], refused])
                verdict = "/".join("–" if x is None else ("met" if x <= 1.05 else "missed") for x in (qb, q))
                table.append(f"| {sched} | {n} | {fmt(c, 0)} | {fmt(rust, 0)} | {fmt(q, 3)} | "
                             f"{'/'.join(f'{x:.0f}' for x in per['c'])} – {'/'.join(f'{x:.0f}' for x in per['rust'])} | "
                             f"{fmt(best['c'], 0)} / {fmt(best['rust'], 0)} | {fmt(qb, 3)} | {verdict} |")
    lines.append("== 5a. IPVS schedule() cost, Rust / C, same boot (docs/results/ipvs-schedule.md)")
    lines += table
    return table


def schedule_icount(rows, out, lines):
    """Instructions per call: the boot under -icount, where the guest's nanosecond is one
    instruction. The fastest batch is the count of the calls alone (a batch that took an
    interrupt counts the handler's instructions too). The baselines give the loop's own share
    of a call (base: the same loop calling a function that does nothing) and what the
    sched_lock pair adds (lock - base), which rr and wrr take in every call."""
    def per_call(r):
        return int(r["best_batch_ns"]) / int(r["batch"])

    cases, baselines = {}, {}
    for r in rows:
        if r["kind"] == "schedule" and int(r["calls"]) and int(r.get("best_batch_ns", 0)):
            cases.setdefault((r["sched"], int(r["dests"]), r["impl"]), []).append(r)
        elif r["kind"] == "schedule_baseline" and int(r.get("best_batch_ns", 0)):
            baselines.setdefault(r["baseline"], []).append(per_call(r))
    base = min(baselines["base"]) if baselines.get("base") else None
    lock = min(baselines["lock"]) if baselines.get("lock") else None
    lock_pair = lock - base if lock is not None and base is not None else None
    table = ["| scheduler | real servers | C, instructions/call | Rust | Rust / C | schedule() alone, C / Rust "
             "| Rust / C, schedule() alone | goal ≤ 1.05 | without the sched_lock pair, C / Rust (Rust / C) |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    with open(f"{out}/ipvs-schedule-icount.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scheduler", "dests", "c_instructions_per_call", "rust_instructions_per_call",
                    "rust_over_c", "loop_instructions_per_call", "c_schedule_alone", "rust_schedule_alone",
                    "rust_over_c_alone", "lock_pair_instructions", "c_round_means", "rust_round_means",
                    "c_module", "rust_module"])
        for sched in SCHEDS:
            for n in sorted({k[1] for k in cases if k[0] == sched}):
                best, means, mods = {}, {}, {}
                for impl in ("c", "rust"):
                    runs = cases.get((sched, n, impl), [])
                    best[impl] = min((per_call(r) for r in runs), default=None)
                    means[impl] = [int(r["ns"]) / int(r["calls"]) for r in runs]
                    mods[impl] = runs[0]["module"] if runs else "?"
                q = ratio(best["rust"], best["c"])
                alone = {impl: (None if best[impl] is None or base is None else best[impl] - base)
                         for impl in best}
                qa = ratio(alone["rust"], alone["c"])
                w.writerow([sched, n, fmt(best["c"], 2), fmt(best["rust"], 2), fmt(q, 3), fmt(base, 2),
                            fmt(alone["c"], 2), fmt(alone["rust"], 2), fmt(qa, 3),
                            fmt(lock_pair, 2) if sched in LOCKED else "",
                            " ".join(f"{x:.2f}" for x in means["c"]), " ".join(f"{x:.2f}" for x in means["rust"]),
                            mods["c"], mods["rust"]])
                unlocked = "–"
                if sched in LOCKED and lock_pair is not None and None not in alone.values():
                    c_u, r_u = alone["c"] - lock_pair, alone["rust"] - lock_pair
                    unlocked = f"{c_u:.1f} / {r_u:.1f} ({fmt(ratio(r_u, c_u), 3)})"
                table.append(f"| {sched} | {n} | {fmt(best['c'], 1)} | {fmt(best['rust'], 1)} | {fmt(q, 3)} | "
                             f"{fmt(alone['c'], 1)} / {fmt(alone['rust'], 1)} | {fmt(qa, 3)} | "
                             f"{goal_note(qa, 1.05, True)} | {unlocked} |")
    note = (f"loop's own share of a call (base): {fmt(base, 1)} instructions; "
            f"spin_lock_bh() + spin_unlock_bh() of sched_lock: {fmt(lock_pair, 1)}")
    lines.append("== 5a. instructions per schedule() call, Rust / C, same boot under QEMU -icount "
                 "(docs/results/ipvs-schedule.md)")
    lines += table
    lines.append(note)
    return table, note


def connrate(rows, out, lines):
    cases = {}
    for r in rows:
        if r["kind"] == "connrate":
            cases.setdefault((r["sched"], r["impl"]), []).append(r)
    table = ["| scheduler | C conn/s | Rust conn/s | Rust / C | failed (C / Rust) | goal ≥ 0.98 |",
             "|---|---:|---:|---:|---|---|"]
    with open(f"{out}/ipvs-connrate.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scheduler", "c_conn_per_s", "rust_conn_per_s", "rust_over_c", "c_rounds", "rust_rounds",
                    "c_failed", "rust_failed", "c_per_server", "rust_per_server"])
        for sched in SCHEDS:
            c_runs, r_runs = cases.get((sched, "c"), []), cases.get((sched, "rust"), [])
            if not c_runs and not r_runs:
                continue
            c = median(float(r["rate"]) for r in c_runs)
            rust = median(float(r["rate"]) for r in r_runs)
            q = ratio(rust, c)

            def per_server(runs):
                return " ".join("/".join(r.get(k, "0") for k in "123") for r in runs)

            cf = sum(int(r["failed"]) for r in c_runs)
            rf = sum(int(r["failed"]) for r in r_runs)
            w.writerow([sched, fmt(c, 1), fmt(rust, 1), fmt(q, 3), " ".join(r["rate"] for r in c_runs),
                        " ".join(r["rate"] for r in r_runs), cf, rf, per_server(c_runs), per_server(r_runs)])
            table.append(f"| {sched} | {fmt(c, 0)} | {fmt(rust, 0)} | {fmt(q, 3)} | {cf} / {rf} | "
                         f"{goal_note(q, 0.98, False)} |")
    lines.append("== 5b. connections/s through an IPVS NAT service, Rust / C, same boot "
                 "(docs/results/ipvs-connrate.md)")
    lines += table
    return table


def lblc_fill(rows, out, lines):
    by = {"c": [], "rust": []}
    for r in rows:
        if r["kind"] == "lblc1m":
            by[r["impl"]].append(r)
    stats = {}
    with open(f"{out}/ipvs-lblc-1m.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["impl", "round", "calls", "call_ns_mean", "slab_growth_bytes", "grown_caches", "entries",
                    "bytes_per_entry", "gc_pass_ns", "gc_ns_per_entry", "empty_stop_ns", "full_stop_ns", "flush_ns",
                    "flush_ns_per_entry"])
        for impl, runs in by.items():
            per = []
            for r in runs:
                grown = [] if r["grown"] == "none" else [g.rsplit(":", 1) for g in r["grown"].split(",")]
                # name:objects*object_size; the entries are the objects of the cache that grew most
                caches = [(name, int(c.split("*")[0]), int(c.split("*")[1])) for name, c in grown]
                entries = max((n for _, n, _ in caches), default=0)
                growth = int(r["slab_after"]) - int(r["slab_before"])
                flush = int(r["full_stop_ns"]) - int(r["empty_stop_ns"])
                calls = int(r["calls"])
                # Runs from before the timer pass was timed have no gc_pass_ns.
                gc = int(r["gc_pass_ns"]) if r.get("gc_pass_ns") else None
                d = {"call_ns": int(r["ns"]) / calls if calls else None, "growth": growth, "entries": entries,
                     "per_entry": growth / entries if entries else None, "flush_ns": flush,
                     "flush_per_entry": flush / entries if entries else None, "calls": calls, "gc_ns": gc,
                     "gc_per_entry": gc / entries if entries and gc is not None else None,
                     "caches": " ".join(f"{n}:+{k}x{s}B" for n, k, s in caches)}
                per.append(d)
                w.writerow([impl, r["round"], calls, fmt(d["call_ns"], 1), growth, d["caches"], entries,
                            fmt(d["per_entry"], 1), gc, fmt(d["gc_per_entry"], 1), r["empty_stop_ns"], r["full_stop_ns"], flush,
                            fmt(d["flush_per_entry"], 1)])
            stats[impl] = per

    def m(impl, key):
        return median(d[key] for d in stats.get(impl, []))

    calls = m("c", "calls") or m("rust", "calls")
    table = [f"| lblc, {int(calls or 0):,} destination addresses | C | Rust | Rust / C |", "|---|---:|---:|---:|"]
    for name, key, digits in [("entries the table kept (objects of the cache that grew most)", "entries", 0),
                              ("slab growth, bytes", "growth", 0),
                              ("bytes per entry", "per_entry", 1),
                              ("schedule() with a new destination each call, ns/call", "call_ns", 0),
                              ("timer's garbage-collection pass over the full table, ms", "gc_ns", 3),
                              ("garbage-collection pass, ns per entry", "gc_per_entry", 0),
                              ("flush of the full table (done_service), ms", "flush_ns", 3),
                              ("flush, ns per entry", "flush_per_entry", 0)]:
        c, rust = m("c", key), m("rust", key)
        if key in ("flush_ns", "gc_ns"):
            c, rust = (None if c is None else c / 1e6), (None if rust is None else rust / 1e6)
        table.append(f"| {name} | {fmt(c, digits)} | {fmt(rust, digits)} | {fmt(ratio(rust, c), 3)} |")
    caches = {impl: (stats[impl][0]["caches"] if stats.get(impl) else "–") for impl in ("c", "rust")}
    lines.append(f"== 5c. lblc with {int(calls or 0):,} distinct destinations, Rust / C, same boot "
                 "(docs/results/ipvs-lblc-1m.md)")
    lines += table
    lines.append(f"caches that grew: C {caches['c']}; Rust {caches['rust']}")
    return table, caches


def main():
    raw, out, seconds = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    rows = parse(raw)
    lines = []
    t_sched = schedule(rows, out, lines)
    lines.append("")
    t_icount, icount_note = [], ""
    if len(sys.argv) > 4:
        t_icount, icount_note = schedule_icount(parse(sys.argv[4]), out, lines)
        lines.append("")
    t_conn = connrate(rows, out, lines)
    lines.append("")
    t_fill, caches = lblc_fill(rows, out, lines)
    settings = {}
    with open(raw) as f:
        for line in f:
            if line.startswith("settings "):
                settings = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
    s = settings.get
    with open(f"{out}/ipvs-schedule.md", "w") as f:
        f.write("\n".join([
            "# IPVS schedulers, Rust vs C: cost of one schedule() call (section 5)", "",
            "`vm-bench/kmod/ipvs_sched_bench.ko` creates a real IPVS service (TCP, NAT) through IPVS's own "
            "control calls, binds it to the scheduler under test as `ipvsadm -E -s` does, and calls "
            "`svc->scheduler->schedule()` in a loop the way `ip_vs_schedule()` does (RCU read lock, bottom "
            "halves off; batches of 256 calls timed with `ktime_get_ns()`), no packets involved. Real "
            "servers have weights 1, 2, 3, 4, 1, 2 ... ; lblc, lblcr, dh, sh and mh see 1,000 destination (and, for sh and mh, source) addresses in "
            "turn, all in their table after a warm-up. Each case runs "
            f"{s('time_ms', '?')} ms, {s('rounds', '?')} rounds, C and Rust alternating which goes first; "
            "the table shows the median and every round. It also shows the fastest full batch of any round "
            "(per call): interrupts and the host descheduling the emulator's thread only ever add time to a "
            "batch, so the fastest one is the cost of the calls themselves, the figure that is stable from "
            "run to run on a shared machine (the rounds' means moved by up to 2x). "
            f"One boot of {KERNEL} under TCG: the absolute times are an emulated CPU's, the "
            "ratio is the result.", ""]
            + t_sched + ["", "Raw numbers: [ipvs-schedule.csv](ipvs-schedule.csv)."]
            + (["", "## Instructions per call", "",
                "The same measurement in a second boot under QEMU's `-icount shift=0`, one CPU: the "
                "emulated CPU's clock advances exactly 1 ns per instruction it executes (the guest "
                "calibrates its TSC at 1,000 MHz), so the time of a batch is its instruction count, "
                "which no host load moves: every round gives the same fastest batch. It counts "
                "instructions, not their cost (a cache miss or a slow division counts as one), and "
                "includes the benchmark loop's own share, the same for C and Rust (the destination "
                "address, the indirect call, the counters), measured in the same boot by the same loop "
                "calling a function that does nothing: *schedule() alone* is the count minus that. "
                "rr and wrr take the service's `sched_lock` in every call, C and Rust alike"
                + ("; with lockdep, its bookkeeping makes that pair of calls most of their count"
                   if "lockdep" in KERNEL else "")
                + ": the last column also takes off the pair's count, measured by the same loop "
                "taking the lock around the empty call. 2 rounds of 100 ms.", ""]
               + t_icount + ["", icount_note + ".", "",
                             "Raw numbers: [ipvs-schedule-icount.csv](ipvs-schedule-icount.csv)."]
               if t_icount else [])) + "\n")
    with open(f"{out}/ipvs-connrate.md", "w") as f:
        f.write("\n".join([
            "# IPVS schedulers, Rust vs C: connections/s through a NAT service (section 5)", "",
            "Namespaces `cl` (client, 4 source addresses) → `lb` (director, VIP 198.18.0.1:80, NAT) → "
            "`rs1..rs3` (weights 1, 2, 3), veth links. `vm-bench/ipvs/connrate.c` keeps "
            f"{s('conn_concurrency', '16')} connections in flight for {s('conn_secs', '?')} s per case (connect, "
            "read one byte the server sends, close); the servers close first. "
            f"{s('conn_rounds', '?')} rounds, C and Rust alternating which goes first; median shown.", ""]
            + t_conn + ["", "Per-round rates and per-server counts: [ipvs-connrate.csv](ipvs-connrate.csv)."]) + "\n")
    with open(f"{out}/ipvs-lblc-1m.md", "w") as f:
        f.write("\n".join([
            "# IPVS lblc, Rust vs C: 1,000,000 distinct destinations (section 5)", "",
            f"The benchmark module calls lblc's `schedule()` {s('fill', '1000000')} times, each for a new "
            "destination address, on a service with 10 real servers. Memory: the growth of every slab "
            "cache's objects (`/proc/slabinfo`, copied before and after by the shell itself) divided by "
            "the entries the table kept; the table holds at most `max_size * 3 / 2` = 24,576 entries "
            "(`ip_vs_lblc_new()` creates no entry beyond that, and the Rust module does the same), so "
            "most of the calls find no entry, schedule and record nothing. Garbage collection: lblc's "
            "timer runs every 60 s; with more than `max_size` = 16,384 entries it sweeps the buckets "
            "for entries idle for 6 minutes (every 30th run with a table below that size it checks "
            "against `lblc_expiration`, 24 h). The first pass after the fill, 60 s after the service "
            "was made, finds no idle entry and so walks the whole table, freeing nothing: this is the "
            "pass a full table costs every minute. It is timed by a kprobe and a kretprobe on the timer "
            "callback (C's `ip_vs_lblc_check_expire()`, the Rust glue's `periodic_cb::<Lblc>`, trace "
            "timestamps in microseconds); neither module is changed for it. The pass that frees every "
            "entry is timed too: the flush in `done_service()` when the service is deleted, minus the "
            "deletion of the same service with an empty table. "
            f"{s('fill_rounds', '?')} rounds, C and Rust alternating; median shown.", ""]
            + t_fill + ["", f"Caches that grew by more than 1,000 objects (first round): C {caches['c']}; "
                        f"Rust {caches['rust']}.", "", "Every round: [ipvs-lblc-1m.csv](ipvs-lblc-1m.csv)."]) + "\n")
    lines.append(f"IPVS benchmarks: {seconds} s on the host clock (boot included)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
