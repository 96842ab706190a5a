// SPDX-License-Identifier: GPL-2.0
//! Time per hash of the socket-level hash core (`make bench`, part 1).
//!
//! Group `hash`: `HashFn::hash` on a `FlowKey`, the exact call the kernel module makes per
//! connection, for the five functions and five input shapes (Toeplitz hashes the key's fields
//! in place, `ToeplitzTable::hash_flow`; CRC16 serialises the key first). Group `toeplitz`:
//! the table-driven Toeplitz and the bit-by-bit reference on already serialised inputs, the
//! same work DPDK's `rte_softrss` is timed on.
//!
//! Each iteration hashes a batch of `workload::BATCH` random inputs; the report divides.
//! `scripts/bench.sh` runs this and then `slh-hash-report`, which reads Criterion's estimates.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sock_level_hash_bench::workload::{self, BATCH, CASES, FUNCTIONS};
use sock_level_hash_core::hash::{toeplitz, toeplitz_reference, HashFn, RSS_KEY};
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
        for (key, input) in workload::keys(&case).iter().zip(&inputs) {
            assert_eq!(
                HashFn::Toeplitz.hash(key, case.input),
                toeplitz(input.as_slice()),
                "the production call and the table hash compute the same value"
            );
        }
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
    }
    group.finish();
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
