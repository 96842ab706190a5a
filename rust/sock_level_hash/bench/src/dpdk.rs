// SPDX-License-Identifier: GPL-2.0
//! DPDK's `thash_perf_autotest` output, the anchor of the timing benchmark.
//!
//! `dpdk-test` (Debian `dpdk-dev`) times `rte_softrss()` (tuple in host-order 32-bit words,
//! key as bytes) and `rte_softrss_be()` (key pre-converted) on batches of random tuples of 8,
//! 12, 32 and 36 bytes (IPv4 2-tuple, IPv4 4-tuple, IPv6 2-tuple, IPv6 4-tuple), and prints
//! the average TSC cycles per hash:
//!
//! ```text
//! Average rte_softrss() takes <TAB><TAB>104.2 cycles for key len 8
//! ```

/// One timing line.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// `rte_softrss`, `rte_softrss_be`, ...
    pub function: String,
    /// Input length in bytes ("key len" in DPDK's wording).
    pub len: usize,
    /// Average TSC cycles per hash.
    pub cycles: f64,
}

/// Every timing line of `output`; other lines are ignored.
pub fn parse(output: &str) -> Vec<Timing> {
    output.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Timing> {
    let rest = line.trim().strip_prefix("Average ")?;
    let (function, rest) = rest.split_once("()")?;
    let rest = rest.trim_start().strip_prefix("takes")?;
    let (cycles, rest) = rest.trim_start().split_once(char::is_whitespace)?;
    let len = rest.trim().strip_prefix("cycles for key len")?.trim();
    Some(Timing {
        function: function.trim().to_owned(),
        len: len.parse().ok()?,
        cycles: cycles.parse().ok()?,
    })
}

/// The cycles of `function` for inputs of `len` bytes, if measured.
pub fn cycles(timings: &[Timing], function: &str, len: usize) -> Option<f64> {
    timings
        .iter()
        .find(|t| t.function == function && t.len == len)
        .map(|t| t.cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "EAL: Detected CPU lcores: 2
RTE>>thash_perf_autotest
Average rte_softrss() takes \t\t104.2 cycles for key len 8
Average rte_softrss_be() takes \t\t88.6 cycles for key len 8
Average rte_softrss() takes \t\t506.0 cycles for key len 36
Average rte_thash_gfni() takes \t\t11.5 cycles for key len 12
Test OK
";

    #[test]
    fn parses_the_autotest_lines() {
        let timings = parse(OUTPUT);
        assert_eq!(timings.len(), 4);
        assert_eq!(cycles(&timings, "rte_softrss", 8), Some(104.2));
        assert_eq!(cycles(&timings, "rte_softrss_be", 8), Some(88.6));
        assert_eq!(cycles(&timings, "rte_softrss", 36), Some(506.0));
        assert_eq!(cycles(&timings, "rte_thash_gfni", 12), Some(11.5));
        assert_eq!(cycles(&timings, "rte_softrss", 12), None);
    }

    #[test]
    fn ignores_other_lines() {
        assert!(parse("Test Failed\nAverage of nothing\n").is_empty());
    }
}
