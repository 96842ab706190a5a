// SPDX-License-Identifier: GPL-2.0
//! Balance of the hash functions on real connections, and of an ideal random assignment.
//!
//! For N queues, every connection of a trace is hashed with the core's [`HashFn::hash`] (the
//! code the kernel module runs) and mapped to a queue two ways: `hash % N`, the papers'
//! method, and through a fresh [`IndirectionTable`] with N queues all registered, what the
//! kernel does. Per queue we count connections and distinct clients (what persistence
//! balances), and summarise each with a [`Spread`].
//!
//! The anchor: the same counts when each distinct key of the function's input (client, client
//! and server, or 4-tuple) goes to a uniformly random queue, averaged over Monte Carlo trials
//! with a fixed seed. A function cannot do better than random on average; the ratio
//! function / ideal says how far it is from a perfect hash of the same input.

use crate::rng::SplitMix64;
use crate::stats::{Spread, Summary};
use crate::trace::{Conn, Trace};
use sock_level_hash_core::hash::{HashFn, HashInput};
use sock_level_hash_core::table::IndirectionTable;

/// The queue counts of the issue: 2 to 64, as in the papers.
pub const QUEUES: [usize; 6] = [2, 4, 8, 16, 32, 64];

/// The most queues [`balance`] supports (a client's queues are a 64-bit mask).
pub const MAX_QUEUES: usize = 64;

/// What a function's hash depends on: the key an ideal assignment is random over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// The client address.
    Client,
    /// Client and server addresses.
    Pair,
    /// Addresses and ports.
    Tuple,
}

impl KeyKind {
    pub const ALL: [KeyKind; 3] = [KeyKind::Client, KeyKind::Pair, KeyKind::Tuple];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Pair => "client+server",
            Self::Tuple => "4-tuple",
        }
    }

    /// The dense id of `conn`'s key of this kind.
    pub fn id(self, conn: &Conn) -> usize {
        (match self {
            Self::Client => conn.client,
            Self::Pair => conn.pair,
            Self::Tuple => conn.tuple,
        }) as usize
    }

    /// How many distinct keys of this kind `trace` has.
    pub fn count(self, trace: &Trace) -> usize {
        match self {
            Self::Client => trace.n_clients,
            Self::Pair => trace.n_pairs,
            Self::Tuple => trace.n_tuples,
        }
    }
}

/// A hash function with its input, as the balance tables list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Name in tables, CSV and plots.
    pub name: &'static str,
    pub func: HashFn,
    /// Only matters for Toeplitz and CRC16 (the others have fixed inputs).
    pub input: HashInput,
    pub key: KeyKind,
}

/// The five functions of the 2014 paper; Toeplitz and CRC16 on each input the product
/// offers (the papers hash CRC16 over the 5-tuple; `toeplitz client` is the product default).
pub const VARIANTS: [Variant; 9] = [
    Variant {
        name: "src-ip mod",
        func: HashFn::SrcIpMod,
        input: HashInput::ClientAddr,
        key: KeyKind::Client,
    },
    Variant {
        name: "xor-fold src",
        func: HashFn::XorFoldSrc,
        input: HashInput::ClientAddr,
        key: KeyKind::Client,
    },
    Variant {
        name: "xor-fold src+dst",
        func: HashFn::XorFoldSrcDst,
        input: HashInput::ClientAddr,
        key: KeyKind::Pair,
    },
    Variant {
        name: "crc16 client",
        func: HashFn::Crc16,
        input: HashInput::ClientAddr,
        key: KeyKind::Client,
    },
    Variant {
        name: "crc16 2-tuple",
        func: HashFn::Crc16,
        input: HashInput::ClientServerAddr,
        key: KeyKind::Pair,
    },
    Variant {
        name: "crc16 5-tuple",
        func: HashFn::Crc16,
        input: HashInput::FourTuple,
        key: KeyKind::Tuple,
    },
    Variant {
        name: "toeplitz client",
        func: HashFn::Toeplitz,
        input: HashInput::ClientAddr,
        key: KeyKind::Client,
    },
    Variant {
        name: "toeplitz 2-tuple",
        func: HashFn::Toeplitz,
        input: HashInput::ClientServerAddr,
        key: KeyKind::Pair,
    },
    Variant {
        name: "toeplitz 4-tuple",
        func: HashFn::Toeplitz,
        input: HashInput::FourTuple,
        key: KeyKind::Tuple,
    },
];

impl Variant {
    /// Whether the variant means anything on `trace` (port-based inputs need ports).
    pub fn applies_to(&self, trace: &Trace) -> bool {
        self.key != KeyKind::Tuple || trace.has_ports
    }
}

/// How a hash picks one of N queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// `hash % N`, the papers' method.
    Modulo,
    /// The core's 256-bucket [`IndirectionTable`], N queues registered 0, 1, ..., N - 1 in a
    /// fresh table: what the kernel does.
    Table,
}

impl Mapping {
    pub const ALL: [Mapping; 2] = [Mapping::Modulo, Mapping::Table];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Modulo => "hash % N",
            Self::Table => "indirection table",
        }
    }
}

/// Maps hashes to `0..n` by a [`Mapping`].
pub struct Mapper {
    n: usize,
    table: Option<Box<IndirectionTable>>,
}

impl Mapper {
    /// `n` queues, `1..=MAX_QUEUES`.
    pub fn new(mapping: Mapping, n: usize) -> Self {
        assert!(n >= 1, "no queues");
        let table = (mapping == Mapping::Table).then(|| {
            let mut table = Box::new(IndirectionTable::new(n).expect("too many queues"));
            for queue in 0..n {
                table.register(queue as u16).expect("queue registers");
            }
            table
        });
        Self { n, table }
    }

    /// The queue of `hash`.
    pub fn queue(&self, hash: u32) -> usize {
        match &self.table {
            None => hash as usize % self.n,
            Some(table) => usize::from(
                table
                    .lookup(hash)
                    .expect("every bucket is owned once all queues are registered"),
            ),
        }
    }
}

/// Per-queue spreads of one assignment of a trace's connections to queues.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Balance {
    /// Over connections.
    pub per_conn: Spread,
    /// Over distinct clients (a client reaching k queues counts once in each).
    pub per_client: Spread,
    /// Clients whose connections reached more than one queue (0 for a per-client function).
    pub split_clients: usize,
}

/// The balance when each connection of `trace` goes to `queue_of(conn)` (`< n <= 64`).
pub fn balance(trace: &Trace, n: usize, mut queue_of: impl FnMut(&Conn) -> usize) -> Balance {
    assert!(
        (1..=MAX_QUEUES).contains(&n),
        "1 to {MAX_QUEUES} queues supported"
    );
    let mut conns = vec![0u64; n];
    let mut reached = vec![0u64; trace.n_clients];
    for conn in &trace.conns {
        let queue = queue_of(conn);
        conns[queue] += 1;
        reached[conn.client as usize] |= 1 << queue;
    }
    let mut clients = vec![0u64; n];
    let mut split_clients = 0;
    for &mask in &reached {
        if mask.count_ones() > 1 {
            split_clients += 1;
        }
        let mut rest = mask;
        while rest != 0 {
            clients[rest.trailing_zeros() as usize] += 1;
            rest &= rest - 1;
        }
    }
    Balance {
        per_conn: Spread::of(&conns),
        per_client: Spread::of(&clients),
        split_clients,
    }
}

/// The balance of a hash function variant.
pub fn measure(trace: &Trace, variant: &Variant, mapping: Mapping, n: usize) -> Balance {
    let mapper = Mapper::new(mapping, n);
    balance(trace, n, |conn| {
        mapper.queue(variant.func.hash(&conn.key, variant.input))
    })
}

/// Monte Carlo summary of an ideal assignment: each statistic's mean and 5-95 % range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ideal {
    pub conn_nstd: Summary,
    pub conn_max_mean: Summary,
    pub client_nstd: Summary,
    pub client_max_mean: Summary,
    pub split_clients: Summary,
}

/// Seed of the Monte Carlo runs: fixed, so every run draws the same assignments.
pub const SEED: u64 = 0x5eed_2014_0000_0000;

/// `trials` uniformly random assignments of the distinct `key`s of `trace` to `n` queues.
pub fn ideal(trace: &Trace, key: KeyKind, n: usize, trials: usize, seed: u64) -> Ideal {
    let mut rng = SplitMix64::new(seed);
    let mut queue_of_key = vec![0u8; key.count(trace)];
    let mut samples: [Vec<f64>; 5] = Default::default();
    for _ in 0..trials {
        for queue in queue_of_key.iter_mut() {
            // n <= 64 fits a u8.
            *queue = rng.below(n) as u8;
        }
        let b = balance(trace, n, |conn| usize::from(queue_of_key[key.id(conn)]));
        let values = [
            b.per_conn.nstd,
            b.per_conn.max_mean,
            b.per_client.nstd,
            b.per_client.max_mean,
            b.split_clients as f64,
        ];
        for (sample, value) in samples.iter_mut().zip(values) {
            sample.push(value);
        }
    }
    let [a, b, c, d, e] = &mut samples;
    Ideal {
        conn_nstd: Summary::of(a),
        conn_max_mean: Summary::of(b),
        client_nstd: Summary::of(c),
        client_max_mean: Summary::of(d),
        split_clients: Summary::of(e),
    }
}

/// A seed per (trace, key, N), so that each ideal is reproducible on its own.
pub fn seed_for(trace_index: usize, key: KeyKind, n: usize) -> u64 {
    SEED ^ ((trace_index as u64) << 16) ^ ((key as u64) << 8) ^ n as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse_zeek;
    use std::fmt::Write;

    /// `clients` clients with `per_client` connections each, to one server, distinct ports.
    fn synthetic(clients: u32, per_client: u16) -> Trace {
        let mut text = String::from("#fields\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\n");
        for c in 0..clients {
            for p in 0..per_client {
                let [_, _, hi, lo] = c.to_be_bytes();
                writeln!(text, "10.1.{hi}.{lo}\t{}\t192.0.2.1\t443", 1024 + p).unwrap();
            }
        }
        parse_zeek("synthetic", "synthetic.log", &text).unwrap()
    }

    #[test]
    fn src_ip_mod_on_consecutive_addresses_is_perfect() {
        // 256 consecutive client addresses: `% N` gives every queue the same number.
        let trace = synthetic(256, 2);
        for n in QUEUES {
            let b = measure(&trace, &VARIANTS[0], Mapping::Modulo, n);
            assert_eq!(b.per_conn.nstd, 0.0, "N = {n}");
            assert_eq!(b.per_client.max_mean, 1.0, "N = {n}");
            assert_eq!(b.split_clients, 0);
        }
    }

    #[test]
    fn table_mapping_for_powers_of_two_is_a_bucket_permutation() {
        // Through the table each of N queues owns 256 / N buckets, so 256 consecutive hashes
        // (one per bucket) spread exactly evenly too.
        for n in QUEUES {
            let mapper = Mapper::new(Mapping::Table, n);
            let mut counts = vec![0u64; n];
            for hash in 0..256u32 {
                counts[mapper.queue(hash)] += 1;
            }
            assert!(
                counts.iter().all(|&c| c == 256 / n as u64),
                "N = {n}: {counts:?}"
            );
        }
    }

    #[test]
    fn per_client_functions_keep_clients_whole_and_tuples_split_them() {
        let trace = synthetic(64, 16);
        let client = VARIANTS
            .iter()
            .find(|v| v.name == "toeplitz client")
            .unwrap();
        let tuple = VARIANTS
            .iter()
            .find(|v| v.name == "toeplitz 4-tuple")
            .unwrap();
        let b = measure(&trace, client, Mapping::Table, 8);
        assert_eq!(b.split_clients, 0);
        // Every client has 16 connections: per-connection and per-client spreads agree.
        assert!((b.per_conn.nstd - b.per_client.nstd).abs() < 1e-12);
        let b = measure(&trace, tuple, Mapping::Table, 8);
        assert!(b.split_clients > 60, "{b:?}");
    }

    #[test]
    fn ideal_matches_the_multinomial_spread() {
        // M keys uniformly over N queues: the normalised std is about sqrt((N - 1) / M).
        let trace = synthetic(4096, 1);
        let n = 16;
        let ideal = ideal(&trace, KeyKind::Client, n, 200, 1);
        let expected = ((n as f64 - 1.0) / 4096.0).sqrt();
        let got = ideal.conn_nstd.mean;
        assert!((got / expected - 1.0).abs() < 0.1, "{got} vs {expected}");
        assert!(ideal.conn_nstd.p05 < got && got < ideal.conn_nstd.p95);
        assert_eq!(ideal.split_clients.p95, 0.0);
        // Reproducible from its seed.
        assert_eq!(ideal, super::ideal(&trace, KeyKind::Client, n, 200, 1));
    }

    #[test]
    fn ideal_over_tuples_splits_clients() {
        let trace = synthetic(32, 8);
        let ideal = ideal(&trace, KeyKind::Tuple, 4, 50, 2);
        assert!(ideal.split_clients.mean > 30.0, "{ideal:?}");
    }

    #[test]
    fn skewed_clients_make_the_per_connection_ideal_uneven() {
        // One client with 1000 connections and 99 with one: no per-client assignment can
        // balance connections, which is what the ideal shows.
        let mut text = String::from("#fields\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\n");
        for p in 0..1000 {
            writeln!(text, "10.0.0.1\t{}\t192.0.2.1\t443", 1024 + p).unwrap();
        }
        for c in 2..=100 {
            writeln!(text, "10.0.1.{c}\t1024\t192.0.2.1\t443").unwrap();
        }
        let trace = parse_zeek("skew", "skew.log", &text).unwrap();
        let ideal = ideal(&trace, KeyKind::Client, 2, 100, 3);
        assert!(ideal.conn_max_mean.p05 > 1.8, "{ideal:?}");
        let ideal = super::ideal(&trace, KeyKind::Tuple, 2, 100, 3);
        assert!(ideal.conn_max_mean.p95 < 1.2, "{ideal:?}");
    }
}
