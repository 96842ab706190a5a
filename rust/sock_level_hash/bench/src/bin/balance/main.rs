// SPDX-License-Identifier: GPL-2.0
//! `make bench`, part 2: balance of the five hash functions on real traffic.
//!
//! ```text
//! slh-balance --data DIR --out DIR [--trials T] [--font TTF]
//! ```
//! Reads the traces in place under `DIR` (`../shared/data`; a missing trace is skipped with a
//! message), and for N = 2..64 queues, both mappings (`hash % N`, the indirection table) and
//! both units (connections, distinct clients) writes the normalised standard deviation and
//! max/mean of each function next to an ideal random assignment (Monte Carlo, `T` trials,
//! fixed seeds): `balance.csv`, `balance.md` and four PNG plots in the output directory.

mod plot;
#[path = "../common/plot_png.rs"]
mod plot_png;

use sock_level_hash_bench::balance::{
    ideal, measure, seed_for, Ideal, KeyKind, Mapping, Variant, QUEUES, VARIANTS,
};
use sock_level_hash_bench::cli::Flags;
use sock_level_hash_bench::stats::{Spread, Summary};
use sock_level_hash_bench::trace::{parse_umass, parse_zeek, Trace};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;
use std::{env, fs, process};

/// Per connection or per distinct client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    Connection,
    Client,
}

impl Unit {
    pub const ALL: [Unit; 2] = [Unit::Connection, Unit::Client];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Client => "client",
        }
    }
}

/// The two statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    Nstd,
    MaxMean,
}

impl Stat {
    pub const ALL: [Stat; 2] = [Stat::Nstd, Stat::MaxMean];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Nstd => "normalised std (std / mean)",
            Self::MaxMean => "max / mean",
        }
    }

    pub const fn slug(self) -> &'static str {
        match self {
            Self::Nstd => "nstd",
            Self::MaxMean => "maxmean",
        }
    }

    fn of(self, spread: Spread) -> f64 {
        match self {
            Self::Nstd => spread.nstd,
            Self::MaxMean => spread.max_mean,
        }
    }
}

/// Everything measured on one trace.
pub struct Results {
    pub trace: Trace,
    /// (mapping index, variant index, N) → (per connection, per client, split clients).
    pub measured: BTreeMap<(usize, usize, usize), (Spread, Spread, usize)>,
    /// (key, N) → ideal.
    pub ideals: BTreeMap<(KeyKind, usize), Ideal>,
}

impl Results {
    pub fn value(
        &self,
        mapping: usize,
        variant: usize,
        n: usize,
        unit: Unit,
        stat: Stat,
    ) -> Option<f64> {
        self.measured
            .get(&(mapping, variant, n))
            .map(|&(conn, client, _)| match unit {
                Unit::Connection => stat.of(conn),
                Unit::Client => stat.of(client),
            })
    }

    pub fn ideal(&self, key: KeyKind, n: usize, unit: Unit, stat: Stat) -> Option<Summary> {
        self.ideals.get(&(key, n)).map(|i| match (unit, stat) {
            (Unit::Connection, Stat::Nstd) => i.conn_nstd,
            (Unit::Connection, Stat::MaxMean) => i.conn_max_mean,
            (Unit::Client, Stat::Nstd) => i.client_nstd,
            (Unit::Client, Stat::MaxMean) => i.client_max_mean,
        })
    }

    pub fn keys(&self) -> Vec<KeyKind> {
        KeyKind::ALL
            .into_iter()
            .filter(|&k| k != KeyKind::Tuple || self.trace.has_ports)
            .collect()
    }

    pub fn variants(&self) -> Vec<(usize, &'static Variant)> {
        VARIANTS
            .iter()
            .enumerate()
            .filter(|(_, v)| v.applies_to(&self.trace))
            .collect()
    }
}

struct Args {
    data: PathBuf,
    out: PathBuf,
    trials: usize,
    font: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut flags = Flags::parse(env::args().skip(1))?;
    let mut take = |flag: &str| flags.take(flag);
    let args = Args {
        data: take("--data").ok_or("--data DIR missing")?.into(),
        out: take("--out").ok_or("--out DIR missing")?.into(),
        trials: take("--trials")
            .map_or(Ok(200), |t| t.parse())
            .map_err(|e| format!("--trials: {e}"))?,
        font: take("--font")
            .unwrap_or_else(|| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into())
            .into(),
    };
    flags.finish()?;
    Ok(args)
}

/// The traces: (name, path under the data directory, reader).
type Reader = fn(&str, &str, &str) -> Result<Trace, String>;
const TRACES: [(&str, &str, Reader); 3] = [
    (
        "UMass YouTube S1",
        "umass-youtube/youtube.parsed.012908.S1.dat",
        |name, file, text| Ok(parse_umass(name, file, text)),
    ),
    (
        "UMass YouTube 24h",
        "umass-youtube/youtube.parsed.061807.24.dat",
        |name, file, text| Ok(parse_umass(name, file, text)),
    ),
    ("Zeek WRCCDC ssl.log", "zeek-wrccdc/ssl.log.gz", parse_zeek),
];

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text)
    } else {
        String::from_utf8(bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("slh-balance: {e}");
        process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    plot_png::register_font(&args.font)?;
    let started = Instant::now();
    let mut all = Vec::new();
    for (index, (name, file, reader)) in TRACES.iter().enumerate() {
        let path = args.data.join(file);
        if !path.exists() {
            println!("skipped {name}: {} is absent", path.display());
            continue;
        }
        let trace = reader(name, file, &read_text(&path)?)?;
        let mut results = Results {
            trace,
            measured: BTreeMap::new(),
            ideals: BTreeMap::new(),
        };
        for n in QUEUES {
            for key in results.keys() {
                let seed = seed_for(index, key, n);
                let value = ideal(&results.trace, key, n, args.trials, seed);
                results.ideals.insert((key, n), value);
            }
            for (m, mapping) in Mapping::ALL.iter().enumerate() {
                for (v, variant) in results.variants() {
                    let b = measure(&results.trace, variant, *mapping, n);
                    results
                        .measured
                        .insert((m, v, n), (b.per_conn, b.per_client, b.split_clients));
                }
            }
        }
        all.push(results);
    }
    if all.is_empty() {
        return Err(format!("no trace found under {}", args.data.display()));
    }
    fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let write = |name: &str, text: &str| {
        let path = args.out.join(name);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("balance.csv", &csv(&all))?;
    write("balance.md", &markdown(&all, args.trials))?;
    let mut pngs = Vec::new();
    for stat in Stat::ALL {
        for unit in Unit::ALL {
            let name = format!("balance-{}-per-{}.png", stat.slug(), unit.name());
            plot::draw(&args.out.join(&name), &all, stat, unit)?;
            pngs.push(name);
        }
    }
    print!("{}", summary(&all, args.trials));
    println!(
        "  wrote {} (balance.csv, balance.md, {}) in {:.1} s",
        args.out.display(),
        pngs.join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn csv(all: &[Results]) -> String {
    let mut out = String::from(
        "dataset,mapping,function,key,queues,unit,nstd,max_mean,ideal_nstd,ideal_nstd_p05,\
         ideal_nstd_p95,ideal_max_mean,ideal_max_mean_p05,ideal_max_mean_p95,nstd_vs_ideal,\
         max_mean_vs_ideal,split_clients,ideal_split_clients\n",
    );
    for r in all {
        for (m, mapping) in Mapping::ALL.iter().enumerate() {
            for (v, variant) in r.variants() {
                for n in QUEUES {
                    let split = r.measured[&(m, v, n)].2;
                    let ideal_split = r.ideals[&(variant.key, n)].split_clients.mean;
                    for unit in Unit::ALL {
                        let nstd = r.value(m, v, n, unit, Stat::Nstd).unwrap();
                        let max_mean = r.value(m, v, n, unit, Stat::MaxMean).unwrap();
                        let i_nstd = r.ideal(variant.key, n, unit, Stat::Nstd).unwrap();
                        let i_max = r.ideal(variant.key, n, unit, Stat::MaxMean).unwrap();
                        writeln!(
                            out,
                            "{},{},{},{},{n},{},{nstd:.5},{max_mean:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.4},{:.4},{split},{ideal_split:.1}",
                            r.trace.name,
                            mapping.name(),
                            variant.name,
                            variant.key.name(),
                            unit.name(),
                            i_nstd.mean,
                            i_nstd.p05,
                            i_nstd.p95,
                            i_max.mean,
                            i_max.p05,
                            i_max.p95,
                            nstd / i_nstd.mean,
                            max_mean / i_max.mean,
                        )
                        .unwrap();
                    }
                }
            }
        }
    }
    out
}

fn trace_facts(t: &Trace) -> String {
    let mut facts = format!(
        "{}. {} connections, {} distinct clients, {} client-server pairs",
        t.description,
        t.conns.len(),
        t.n_clients,
        t.n_pairs,
    );
    if t.has_ports {
        write!(facts, ", {} 4-tuples", t.n_tuples).unwrap();
    }
    write!(facts, "; {} data rows", t.rows).unwrap();
    if t.duplicates > 0 {
        write!(facts, ", {} repeated 4-tuples dropped", t.duplicates).unwrap();
    }
    write!(
        facts,
        ", {} over IPv6 (hashed as IPv6), {} rows skipped (unparsable or mixed families)",
        t.v6_conns, t.skipped
    )
    .unwrap();
    facts
}

fn markdown(all: &[Results], trials: usize) -> String {
    let mut md = String::new();
    writeln!(
        md,
        "# Balance on real traffic\n\nGenerated by `make bench` (`slh-balance`). For N queues \
         each connection is hashed by the core's `HashFn::hash` and mapped to a queue by `hash \
         % N` (the papers' method) or through a fresh 256-bucket `IndirectionTable` with N slots \
         registered (what the kernel does). Per queue we count connections and distinct clients \
         (what per-client persistence balances; a client reaching k queues counts in each), and \
         report the normalised standard deviation (std / mean, the papers' figure 2) and max / \
         mean. Ideal: each distinct key of the function's input (client; client + server; \
         4-tuple) sent to a uniformly random queue, mean of {trials} Monte Carlo trials with \
         fixed seeds, 5-95 % range in brackets; a cell `x (r×)` is the function's value x and \
         its ratio r to the ideal of its own key, marked + when above the ideal's 5-95 % range (less \
         even than 95 % of random assignments) and - when below it.\n"
    )
    .unwrap();
    md.push_str(&overview(all));
    for r in all {
        writeln!(md, "## {}\n\n{}.\n", r.trace.name, trace_facts(&r.trace)).unwrap();
        for unit in Unit::ALL {
            for stat in Stat::ALL {
                for (m, mapping) in Mapping::ALL.iter().enumerate() {
                    writeln!(
                        md,
                        "### {}, per {}, {}\n",
                        stat.name(),
                        unit.name(),
                        mapping.name()
                    )
                    .unwrap();
                    md.push_str("| function | key |");
                    for n in QUEUES {
                        write!(md, " N={n} |").unwrap();
                    }
                    md.push_str("\n|---|---|");
                    md.push_str(&"---:|".repeat(QUEUES.len()));
                    md.push('\n');
                    for (v, variant) in r.variants() {
                        write!(md, "| {} | {} |", variant.name, variant.key.name()).unwrap();
                        for n in QUEUES {
                            let x = r.value(m, v, n, unit, stat).unwrap();
                            let i = r.ideal(variant.key, n, unit, stat).unwrap();
                            write!(md, " {x:.3} ({:.2}×){} |", x / i.mean, flag(x, &i)).unwrap();
                        }
                        md.push('\n');
                    }
                    for key in r.keys() {
                        write!(
                            md,
                            "| *ideal, random per {}* | {} |",
                            key.name(),
                            key.name()
                        )
                        .unwrap();
                        for n in QUEUES {
                            let i = r.ideal(key, n, unit, stat).unwrap();
                            write!(md, " {:.3} [{:.3}–{:.3}] |", i.mean, i.p05, i.p95).unwrap();
                        }
                        md.push('\n');
                    }
                    md.push('\n');
                }
            }
        }
        writeln!(
            md,
            "### Clients split over several queues (persistence lost), {}\n",
            Mapping::Table.name()
        )
        .unwrap();
        md.push_str("| function |");
        for n in QUEUES {
            write!(md, " N={n} |").unwrap();
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(QUEUES.len()));
        md.push('\n');
        for (v, variant) in r.variants() {
            write!(md, "| {} |", variant.name).unwrap();
            for n in QUEUES {
                write!(md, " {} |", r.measured[&(1, v, n)].2).unwrap();
            }
            md.push('\n');
        }
        md.push('\n');
    }
    md
}

/// The overview tables: per mapping, for each function and trace/unit, the range of
/// normalised std / ideal over N = 2..64 and how many N are above the ideal's 5-95 % range.
fn overview(all: &[Results]) -> String {
    let mut md = String::new();
    for (m, mapping) in Mapping::ALL.iter().enumerate() {
        writeln!(
            md,
            "## Overview, {}: normalised std / ideal, lowest–highest over N = 2..64, and how \
             many of the 6 N are above the ideal's 5-95 % range\n",
            mapping.name()
        )
        .unwrap();
        md.push_str("| function |");
        for r in all {
            for unit in Unit::ALL {
                write!(md, " {}, per {} |", r.trace.name, unit.name()).unwrap();
            }
        }
        md.push_str("\n|---|");
        md.push_str(&"---|".repeat(all.len() * Unit::ALL.len()));
        md.push('\n');
        for (v, variant) in VARIANTS.iter().enumerate() {
            write!(md, "| {} |", variant.name).unwrap();
            for r in all {
                for unit in Unit::ALL {
                    if !variant.applies_to(&r.trace) {
                        md.push_str(" (no ports) |");
                        continue;
                    }
                    let (mut lo, mut hi, mut above) = (f64::MAX, f64::MIN, 0);
                    for n in QUEUES {
                        let x = r.value(m, v, n, unit, Stat::Nstd).unwrap();
                        let i = r.ideal(variant.key, n, unit, Stat::Nstd).unwrap();
                        lo = lo.min(x / i.mean);
                        hi = hi.max(x / i.mean);
                        above += usize::from(x > i.p95);
                    }
                    write!(md, " {lo:.2}–{hi:.2}, {above}+ |").unwrap();
                }
            }
            md.push('\n');
        }
        md.push('\n');
    }
    md
}

/// `+` when `x` is above the ideal's 5-95 % range (worse than 95 % of random assignments),
/// `-` when below it (more even than 95 % of them), nothing within.
fn flag(x: f64, ideal: &Summary) -> &'static str {
    if x > ideal.p95 {
        "+"
    } else if x < ideal.p05 {
        "-"
    } else {
        ""
    }
}

/// What the terminal shows: per trace and unit, the normalised std of each function as a
/// ratio to its ideal, for both mappings.
fn summary(all: &[Results], trials: usize) -> String {
    let mut out = format!(
        "Balance: normalised std / that of an ideal random assignment of the same keys ({trials} Monte Carlo trials): 1.00 = as even as random on average; + above / - below the ideal's 5-95 % range\n"
    );
    for r in all {
        let t = &r.trace;
        writeln!(
            out,
            "{}: {} connections, {} clients, {} IPv6, {} skipped, {} repeated 4-tuples dropped",
            t.name,
            t.conns.len(),
            t.n_clients,
            t.v6_conns,
            t.skipped,
            t.duplicates
        )
        .unwrap();
        for unit in Unit::ALL {
            write!(out, "  per {:<10}         % N:", unit.name()).unwrap();
            for n in QUEUES {
                write!(out, " {n:>5} ").unwrap();
            }
            out.push_str("  table:");
            for n in QUEUES {
                write!(out, " {n:>5} ").unwrap();
            }
            out.push('\n');
            for (v, variant) in r.variants() {
                write!(out, "    {:<27}", variant.name).unwrap();
                for m in 0..Mapping::ALL.len() {
                    if m == 1 {
                        out.push_str("        ");
                    }
                    for n in QUEUES {
                        let x = r.value(m, v, n, unit, Stat::Nstd).unwrap();
                        let i = r.ideal(variant.key, n, unit, Stat::Nstd).unwrap();
                        write!(out, " {:>5.2}{:1}", x / i.mean, flag(x, &i)).unwrap();
                    }
                }
                out.push('\n');
            }
            write!(out, "    {:<27}", "ideal nstd (per client)").unwrap();
            for n in QUEUES {
                write!(
                    out,
                    " {:>5.3}",
                    r.ideal(KeyKind::Client, n, unit, Stat::Nstd).unwrap().mean
                )
                .unwrap();
            }
            out.push('\n');
        }
    }
    out
}
