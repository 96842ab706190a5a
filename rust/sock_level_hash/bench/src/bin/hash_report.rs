// SPDX-License-Identifier: GPL-2.0
//! `make bench`, part 1, report: time per hash from Criterion's estimates, against DPDK's
//! `rte_softrss` measured in the same run, and against the papers' figures.
//!
//! ```text
//! slh-hash-report --criterion DIR --dpdk FILE --out DIR [--dpdk-version V]
//! ```
//! `DIR` is Criterion's output (`$CRITERION_HOME`) after `cargo bench --bench hash`; `FILE` is
//! the output of `dpdk-test` running `thash_perf_autotest`, or one line saying why DPDK could
//! not be measured. Writes `hash-timing.csv` and `hash-timing.md` to the output directory and
//! prints the ratios.

use sock_level_hash_bench::cli::Flags;
use sock_level_hash_bench::dpdk;
use sock_level_hash_bench::workload::{Case, BATCH, CASES, FUNCTIONS};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use std::{env, fs, process};

/// The papers' timings: 654,795 hashes of the UMass trace, total seconds per function.
const PAPER_HASHES: f64 = 654_795.0;
const PAPER_SECONDS: [(&str, f64); 5] = [
    ("src-ip-mod", 0.031),
    ("xor-fold-src", 0.089),
    ("xor-fold-src-dst", 0.162),
    ("crc16", 3.910),
    ("toeplitz", 0.153),
];
/// The input of the papers' definition of each function, to compare like with like: the
/// address-only functions on IPv4 addresses, CRC16 on the 5-tuple, Toeplitz as RSS hashes TCP
/// (the 4-tuple; the papers do not say, and it is the longer IPv4 input).
const PAPER_CASE: [(&str, &str); 5] = [
    ("src-ip-mod", "v4-client"),
    ("xor-fold-src", "v4-client"),
    ("xor-fold-src-dst", "v4-2tuple"),
    ("crc16", "v4-4tuple"),
    ("toeplitz", "v4-4tuple"),
];
/// The issue's goals for the production Toeplitz, ns per hash.
const GOALS: [(&str, f64); 2] = [("v4-2tuple", 3.0), ("v6-2tuple", 8.0)];

/// One Criterion measurement, per hash.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
}

struct Args {
    criterion: PathBuf,
    dpdk: PathBuf,
    dpdk_version: String,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut flags = Flags::parse(env::args().skip(1))?;
    let mut take = |flag: &str| flags.take(flag);
    let args = Args {
        criterion: take("--criterion").ok_or("--criterion DIR missing")?.into(),
        dpdk: take("--dpdk").ok_or("--dpdk FILE missing")?.into(),
        dpdk_version: take("--dpdk-version").unwrap_or_else(|| "?".into()),
        out: take("--out").ok_or("--out DIR missing")?.into(),
    };
    flags.finish()?;
    Ok(args)
}

/// Criterion's median time per iteration of `group/function/case`, divided by the batch.
fn estimate(dir: &Path, group: &str, function: &str, case: &str) -> Result<Estimate, String> {
    let path = dir
        .join(group)
        .join(function)
        .join(case)
        .join("new/estimates.json");
    let text = fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (did `cargo bench --bench hash` run?)",
            path.display()
        )
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let get = |pointer: &str| {
        json.pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("{}: no {pointer}", path.display()))
    };
    let per_hash = |v: f64| v / BATCH as f64;
    Ok(Estimate {
        median: per_hash(get("/median/point_estimate")?),
        low: per_hash(get("/median/confidence_interval/lower_bound")?),
        high: per_hash(get("/median/confidence_interval/upper_bound")?),
    })
}

/// TSC ticks per nanosecond, measured against the monotonic clock (DPDK times in TSC cycles).
#[cfg(target_arch = "x86_64")]
fn tsc_ghz() -> f64 {
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            // SAFETY: `rdtsc` has no preconditions on x86_64.
            #[allow(unused_unsafe)]
            let read = || unsafe { core::arch::x86_64::_rdtsc() };
            let (t0, c0) = (Instant::now(), read());
            std::thread::sleep(Duration::from_millis(100));
            let (c1, t1) = (read(), Instant::now());
            (c1 - c0) as f64 / (t1 - t0).as_nanos() as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_ghz() -> f64 {
    f64::NAN
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn case(id: &str) -> &'static Case {
    CASES.iter().find(|c| c.id == id).expect("known case")
}

fn main() {
    if let Err(e) = run() {
        eprintln!("slh-hash-report: {e}");
        process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let ghz = tsc_ghz();

    // Our measurements.
    let mut ours = BTreeMap::new();
    for (_, name) in FUNCTIONS {
        for case in CASES {
            ours.insert(
                ("hash", name, case.id),
                estimate(&args.criterion, "hash", name, case.id)?,
            );
        }
    }
    for way in ["table", "reference"] {
        for case in CASES {
            ours.insert(
                ("toeplitz", way, case.id),
                estimate(&args.criterion, "toeplitz", way, case.id)?,
            );
        }
    }
    let ns = |group: &str, name: &str, case: &str| ours[&(group, name, case)].median;

    // DPDK's, or why there are none.
    let dpdk_text = fs::read_to_string(&args.dpdk).unwrap_or_default();
    let timings = dpdk::parse(&dpdk_text);
    let dpdk_missing = if timings.is_empty() {
        let why = dpdk_text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_owned();
        Some(why)
    } else {
        None
    };
    let dpdk_ns =
        |function: &str, len: usize| dpdk::cycles(&timings, function, len).map(|c| c / ghz);

    // CSV: every number, one row each.
    let mut csv = String::from(
        "source,function,input,bytes,ns_per_hash,ci_low_ns,ci_high_ns,cycles_per_hash\n",
    );
    for (&(group, name, id), e) in &ours {
        let source = match group {
            "hash" => "HashFn::hash(FlowKey)",
            _ => "toeplitz on bytes",
        };
        let c = case(id);
        writeln!(
            csv,
            "{source},{name},{},{},{:.3},{:.3},{:.3},{:.1}",
            c.label,
            c.len,
            e.median,
            e.low,
            e.high,
            e.median * ghz
        )
        .unwrap();
    }
    for t in &timings {
        let label = CASES
            .iter()
            .find(|c| c.len == t.len)
            .map_or("?", |c| c.label);
        writeln!(
            csv,
            "dpdk {},{},{label},{},{:.3},,,{:.1}",
            args.dpdk_version,
            t.function,
            t.len,
            t.cycles / ghz,
            t.cycles
        )
        .unwrap();
    }

    // Markdown and terminal summary.
    let mut md = String::new();
    let mut say = String::new();
    writeln!(
        md,
        "# Time per hash\n\nGenerated by `make bench` (`scripts/bench.sh`): Criterion bench \
         `rust/sock_level_hash/bench/benches/hash.rs`, then `slh-hash-report`. Machine: {}, TSC \
         {ghz:.3} GHz (measured), {} cores, load average at the end {}. Each iteration hashes \
         {BATCH} random inputs (fixed seed), as DPDK's `thash_perf_autotest` does; the number is \
         Criterion's median per iteration / {BATCH}. Hot caches: the 36 KiB Toeplitz table stays \
         in L1/L2 here, a kernel hashing one connection at a time may find it colder.\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, usize::from),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
    .unwrap();

    writeln!(
        md,
        "## The five functions, as the kernel calls them\n\n`HashFn::hash(&FlowKey, \
         HashInput)`, ns per hash: everything the call does (Toeplitz hashes the key's fields in \
         place, CRC16 serialises the key into a buffer first). `src-ip-mod` and the XOR folds \
         ignore the input selector (fixed fields). Papers: total time for 654,795 hashes / 654,795; ratio = ours on the input of the papers' definition (*marked*) / \
         papers.\n"
    )
    .unwrap();
    write!(md, "| function |").unwrap();
    for c in CASES {
        write!(md, " {} |", c.label).unwrap();
    }
    md.push_str(" papers | ours / papers |\n|---|");
    md.push_str(&"---:|".repeat(CASES.len() + 2));
    md.push('\n');
    say.push_str("Time per hash (HashFn::hash, ns), vs the papers' figures:\n");
    for ((_, name), (_, seconds)) in FUNCTIONS.iter().zip(PAPER_SECONDS) {
        let paper_case = PAPER_CASE.iter().find(|(f, _)| f == name).unwrap().1;
        write!(md, "| {name} |").unwrap();
        for c in CASES {
            let v = ns("hash", name, c.id);
            if c.id == paper_case {
                write!(md, " *{v:.2}* |").unwrap();
            } else {
                write!(md, " {v:.2} |").unwrap();
            }
        }
        let paper = seconds / PAPER_HASHES * 1e9;
        let ratio = ns("hash", name, paper_case) / paper;
        writeln!(md, " {paper:.0} | {ratio:.4} |").unwrap();
        writeln!(
            say,
            "  {name:<17} {:>7.2} ns ({})  papers {paper:>6.0} ns  ratio {ratio:.4}",
            ns("hash", name, paper_case),
            case(paper_case).label
        )
        .unwrap();
    }

    writeln!(
        md,
        "\n## Toeplitz: table-driven vs bit-by-bit vs DPDK\n\nProduction = `HashFn::Toeplitz` \
         through `HashFn::hash` (as above); table and bit-by-bit = `toeplitz()` and \
         `toeplitz_reference()` on serialised bytes, the same work DPDK's `rte_softrss()` \
         (tuple as host-order words) and `rte_softrss_be()` (pre-converted key) are timed on, \
         here by DPDK {} `dpdk-test thash_perf_autotest` in the same run (TSC cycles / {ghz:.3} \
         GHz).\n",
        args.dpdk_version
    )
    .unwrap();
    md.push_str(
        "| input | bytes | production ns | table ns | bit-by-bit ns | bit-by-bit / table | \
         rte_softrss ns | rte_softrss_be ns | production / rte_softrss | goal (production) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    say.push_str("Toeplitz (ns per hash):\n");
    for c in CASES {
        let production = ns("hash", "toeplitz", c.id);
        let table = ns("toeplitz", "table", c.id);
        let reference = ns("toeplitz", "reference", c.id);
        let soft = dpdk_ns("rte_softrss", c.len);
        let soft_be = dpdk_ns("rte_softrss_be", c.len);
        let fmt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
        let ratio = soft.map_or("–".to_owned(), |s| format!("{:.3}", production / s));
        let goal = GOALS
            .iter()
            .find(|(id, _)| *id == c.id)
            .map_or(String::new(), |&(_, goal)| {
                let verdict = if production <= goal { "met" } else { "missed" };
                format!("≤ {goal} ns: {verdict}")
            });
        writeln!(
            md,
            "| {} | {} | {production:.2} | {table:.2} | {reference:.1} | {:.1}× | {} | {} | {ratio} | {goal} |",
            c.label,
            c.len,
            reference / table,
            fmt(soft),
            fmt(soft_be),
        )
        .unwrap();
        let dpdk_part = match (soft, &dpdk_missing) {
            (Some(s), _) => format!("rte_softrss {s:>6.1} ns  ours/DPDK {:.3}", production / s),
            (None, Some(_)) => "DPDK not measured".to_owned(),
            (None, None) => "DPDK has no such case".to_owned(),
        };
        writeln!(
            say,
            "  {:<20} production {production:>5.2}  table {table:>5.2}  bit-by-bit {reference:>6.1} ({:>5.1}x table)  {dpdk_part}{}",
            c.label,
            reference / table,
            if goal.is_empty() { String::new() } else { format!("  goal {goal}") }
        )
        .unwrap();
    }
    md.push_str(
        "\nThe production call hashes the `FlowKey`'s fields where they are \
         (`ToeplitzTable::hash_flow`: one table load per byte, no copy); the table column \
         hashes the same bytes serialised beforehand into an `InputBytes` (checked equal to \
         the production call on every input), the work `rte_softrss` is timed on.\n",
    );
    if let Some(why) = &dpdk_missing {
        writeln!(md, "\nDPDK anchor not measured in this run: {why}").unwrap();
        writeln!(say, "  DPDK anchor not measured: {why}").unwrap();
    }
    let paper_toeplitz = 0.153 / PAPER_HASHES * 1e9;
    let production = ns("hash", "toeplitz", "v4-4tuple");
    writeln!(
        md,
        "\nPapers: 0.153 s for 654,795 Toeplitz hashes = {paper_toeplitz:.0} ns each; \
         ours (IPv4 4-tuple) {production:.2} ns = {:.4} of that ({:.0}× faster).",
        production / paper_toeplitz,
        paper_toeplitz / production
    )
    .unwrap();
    writeln!(
        say,
        "  papers' Toeplitz {paper_toeplitz:.0} ns/hash; ours {production:.2} ns = ratio {:.4}",
        production / paper_toeplitz
    )
    .unwrap();

    fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for (name, text) in [("hash-timing.csv", &csv), ("hash-timing.md", &md)] {
        let path = args.out.join(name);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    print!("{say}");
    println!(
        "  wrote {} and hash-timing.md",
        args.out.join("hash-timing.csv").display()
    );
    Ok(())
}
