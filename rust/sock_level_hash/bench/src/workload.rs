// SPDX-License-Identifier: GPL-2.0
//! The inputs of the timing benchmark, shared by the Criterion bench and its report.
//!
//! Like DPDK's `thash_perf_autotest`, every measured iteration hashes a batch of [`BATCH`]
//! random inputs (fixed seed), so that a data-dependent loop such as the bit-by-bit Toeplitz
//! cannot learn one input's branches; time per hash = time per iteration / [`BATCH`].

use crate::rng::SplitMix64;
use sock_level_hash_core::hash::{FlowKey, HashFn, HashInput, InputBytes};

/// Hashes per measured iteration (DPDK's `BATCH_SZ`).
pub const BATCH: usize = 1024;

/// Seed of the random inputs.
pub const SEED: u64 = 0x7065_7266_2d68_6173;

/// One input shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// Benchmark id: `v4-client`, `v4-2tuple`, ...
    pub id: &'static str,
    /// Human label.
    pub label: &'static str,
    pub v6: bool,
    pub input: HashInput,
    /// Bytes hashed by Toeplitz (the length DPDK's output names).
    pub len: usize,
}

/// The shapes measured: the four (IPv4 client address, IPv4 2-tuple, IPv4 4-tuple,
/// IPv6 2-tuple) and the IPv6 4-tuple, the longest input (DPDK measures it too).
pub const CASES: [Case; 5] = [
    Case {
        id: "v4-client",
        label: "IPv4 client address",
        v6: false,
        input: HashInput::ClientAddr,
        len: 4,
    },
    Case {
        id: "v4-2tuple",
        label: "IPv4 2-tuple",
        v6: false,
        input: HashInput::ClientServerAddr,
        len: 8,
    },
    Case {
        id: "v4-4tuple",
        label: "IPv4 4-tuple",
        v6: false,
        input: HashInput::FourTuple,
        len: 12,
    },
    Case {
        id: "v6-2tuple",
        label: "IPv6 2-tuple",
        v6: true,
        input: HashInput::ClientServerAddr,
        len: 32,
    },
    Case {
        id: "v6-4tuple",
        label: "IPv6 4-tuple",
        v6: true,
        input: HashInput::FourTuple,
        len: 36,
    },
];

/// The five functions with their benchmark ids, in the papers' order.
pub const FUNCTIONS: [(HashFn, &str); 5] = [
    (HashFn::SrcIpMod, "src-ip-mod"),
    (HashFn::XorFoldSrc, "xor-fold-src"),
    (HashFn::XorFoldSrcDst, "xor-fold-src-dst"),
    (HashFn::Crc16, "crc16"),
    (HashFn::Toeplitz, "toeplitz"),
];

/// [`BATCH`] random flow keys of the case's address family.
pub fn keys(case: &Case) -> Vec<FlowKey> {
    let mut rng = SplitMix64::new(SEED ^ case.len as u64);
    (0..BATCH)
        .map(|_| {
            let ports = rng.next_u64();
            let (sport, dport) = (ports as u16, (ports >> 16) as u16);
            if case.v6 {
                let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
                rng.fill(&mut src);
                rng.fill(&mut dst);
                FlowKey::V6 {
                    src,
                    dst,
                    sport,
                    dport,
                }
            } else {
                let (mut src, mut dst) = ([0u8; 4], [0u8; 4]);
                rng.fill(&mut src);
                rng.fill(&mut dst);
                FlowKey::V4 {
                    src,
                    dst,
                    sport,
                    dport,
                }
            }
        })
        .collect()
}

/// The serialised Toeplitz inputs of [`keys`] (what `rte_softrss` gets: no serialisation
/// in the timed loop).
pub fn inputs(case: &Case) -> Vec<InputBytes> {
    keys(case)
        .iter()
        .map(|key| key.input_bytes(case.input))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_have_the_case_length_and_differ() {
        for case in CASES {
            let inputs = inputs(&case);
            assert_eq!(inputs.len(), BATCH);
            assert!(
                inputs.iter().all(|i| i.as_slice().len() == case.len),
                "{case:?}"
            );
            assert_ne!(inputs[0], inputs[1]);
        }
        assert_eq!(keys(&CASES[1]), keys(&CASES[1]));
    }
}
