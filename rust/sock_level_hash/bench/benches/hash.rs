// SPDX-License-Identifier: GPL-2.0
//! Time per hash of the socket-level hash core (`make bench`, part 1).
//!
//! Group `hash`: [`HashFn::hash`] on a [`FlowKey`], the exact call the kernel module makes per
//! connection (serialisation of the key included), for the five functions and five input
//! shapes. Group `toeplitz`: the table-driven production Toeplitz and the bit-by-bit
//! reference on already serialised inputs, the same work DPDK's `rte_softrss` is timed on;
//! and, clearly apart, a prototype that is not in the core (see [`toeplitz_in_place`]).
//!
//! Each iteration hashes a batch of `workload::BATCH` random inputs; the report divides.
//! `scripts/bench.sh` runs this and then `slh-hash-report`, which reads Criterion's estimates.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sock_level_hash_bench::workload::{self, BATCH, CASES, FUNCTIONS};
use sock_level_hash_core::hash::{
    toeplitz, toeplitz_reference, FlowKey, HashFn, HashInput, MAX_INPUT_LEN, RSS_KEY,
};
use std::hint::black_box;
use std::time::Duration;

fn hash_functions(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Elements(BATCH as u64));
    for case in CASES {
        let keys = workload::keys(&case);
        for (func, name) in FUNCTIONS {
            group.bench_with_input(BenchmarkId::new(name, case.id), &keys, |b, keys| {
                b.iter(|| {
                    // Function and input are run-time values in the kernel (socket options).
                    let (func, input) = (black_box(func), black_box(case.input));
                    keys.iter()
                        .fold(0u32, |acc, key| acc ^ func.hash(black_box(key), input))
                })
            });
        }
    }
    group.finish();
}

fn toeplitz_two_ways(c: &mut Criterion) {
    let mut group = c.benchmark_group("toeplitz");
    group.throughput(Throughput::Elements(BATCH as u64));
    for case in CASES {
        let inputs = workload::inputs(&case);
        group.bench_with_input(BenchmarkId::new("table", case.id), &inputs, |b, inputs| {
            b.iter(|| {
                inputs.iter().fold(0u32, |acc, input| {
                    acc ^ toeplitz(black_box(input.as_slice()))
                })
            })
        });
        group.bench_with_input(
            BenchmarkId::new("reference", case.id),
            &inputs,
            |b, inputs| {
                b.iter(|| {
                    inputs.iter().fold(0u32, |acc, input| {
                        acc ^ toeplitz_reference(&RSS_KEY, black_box(input.as_slice()))
                    })
                })
            },
        );
        let keys = workload::keys(&case);
        let rows = prototype_rows();
        for key in &keys {
            assert_eq!(
                toeplitz_in_place(&rows, key, case.input),
                HashFn::Toeplitz.hash(key, case.input),
                "the prototype computes the production hash"
            );
        }
        group.bench_with_input(
            BenchmarkId::new("in-place-prototype", case.id),
            &keys,
            |b, keys| {
                b.iter(|| {
                    let input = black_box(case.input);
                    keys.iter().fold(0u32, |acc, key| {
                        acc ^ toeplitz_in_place(&rows, black_box(key), input)
                    })
                })
            },
        );
    }
    group.finish();
}

/// Per-position Toeplitz tables (the core's are private), built with the reference.
type Rows = [[u32; 256]; MAX_INPUT_LEN];

fn prototype_rows() -> Box<Rows> {
    let mut rows = Box::new([[0u32; 256]; MAX_INPUT_LEN]);
    for (pos, row) in rows.iter_mut().enumerate() {
        for (value, entry) in row.iter_mut().enumerate() {
            let mut input = [0u8; MAX_INPUT_LEN];
            input[pos] = value as u8;
            *entry = toeplitz_reference(&RSS_KEY, &input);
        }
    }
    rows
}

/// NOT the production code: what `HashFn::Toeplitz` would cost if the core hashed the key's
/// fields where they are, at fixed table positions, instead of first serialising them into
/// an `InputBytes` (measured to say whether such a core function would be worth adding).
#[inline]
fn toeplitz_in_place(rows: &Rows, key: &FlowKey, input: HashInput) -> u32 {
    fn fold<const N: usize>(rows: &[[u32; 256]], bytes: &[u8; N]) -> u32 {
        let mut hash = 0;
        for i in 0..N {
            hash ^= rows[i][usize::from(bytes[i])];
        }
        hash
    }
    match *key {
        FlowKey::V4 {
            src,
            dst,
            sport,
            dport,
        } => {
            let mut hash = fold(&rows[0..], &src);
            if input != HashInput::ClientAddr {
                hash ^= fold(&rows[4..], &dst);
            }
            if input == HashInput::FourTuple {
                hash ^= fold(&rows[8..], &pack(sport, dport));
            }
            hash
        }
        FlowKey::V6 {
            src,
            dst,
            sport,
            dport,
        } => {
            let mut hash = fold(&rows[0..], &src);
            if input != HashInput::ClientAddr {
                hash ^= fold(&rows[16..], &dst);
            }
            if input == HashInput::FourTuple {
                hash ^= fold(&rows[32..], &pack(sport, dport));
            }
            hash
        }
    }
}

fn pack(sport: u16, dport: u16) -> [u8; 4] {
    let (s, d) = (sport.to_be_bytes(), dport.to_be_bytes());
    [s[0], s[1], d[0], d[1]]
}

// Short runs keep `make bench` within minutes on 2 cores; the command line (`-- --help`) can
// override them.
criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = hash_functions, toeplitz_two_ways
}
criterion_main!(benches);
