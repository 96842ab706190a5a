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
mod report;

use sock_level_hash_bench::balance::{
    ideal, measure, seed_for, Ideal, KeyKind, Mapping, Variant, QUEUES, VARIANTS,
};
use sock_level_hash_bench::cli::Flags;
use sock_level_hash_bench::stats::{Spread, Summary};
use sock_level_hash_bench::trace::{parse_umass, parse_zeek, Trace};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;
use std::{env, fs, process};

use report::{csv, markdown, summary};

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
