// SPDX-License-Identifier: GPL-2.0
//! How uneven a spread over queues is.

/// The unevenness of per-queue counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Normalised standard deviation: the population standard deviation of the counts divided
    /// by their mean (the papers' figure 2 metric; 0 is perfectly even).
    pub nstd: f64,
    /// The busiest queue's count divided by the mean (1 is perfectly even; the overload of
    /// the busiest process).
    pub max_mean: f64,
}

impl Spread {
    /// The spread of `counts` (one per queue). No queues or no items: perfectly even.
    pub fn of(counts: &[u64]) -> Self {
        let total: u64 = counts.iter().sum();
        if counts.is_empty() || total == 0 {
            return Self {
                nstd: 0.0,
                max_mean: 1.0,
            };
        }
        let n = counts.len() as f64;
        let mean = total as f64 / n;
        let var = counts
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let max = counts.iter().copied().max().unwrap_or(0) as f64;
        Self {
            nstd: var.sqrt() / mean,
            max_mean: max / mean,
        }
    }
}

/// Mean and 5th/95th percentiles of a sample (Monte Carlo trials).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub p05: f64,
    pub p95: f64,
}

impl Summary {
    /// Summarises `values` (sorted in place); an empty sample gives NaNs.
    pub fn of(values: &mut [f64]) -> Self {
        if values.is_empty() {
            return Self {
                mean: f64::NAN,
                p05: f64::NAN,
                p95: f64::NAN,
            };
        }
        values.sort_by(f64::total_cmp);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        Self {
            mean,
            p05: quantile(values, 0.05),
            p95: quantile(values, 0.95),
        }
    }
}

/// The `q` quantile of sorted `values`, by linear interpolation between order statistics.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        len => {
            let pos = q.clamp(0.0, 1.0) * (len - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            let hi = (lo + 1).min(len - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn even_counts_have_no_spread() {
        let s = Spread::of(&[5, 5, 5, 5]);
        assert!(close(s.nstd, 0.0) && close(s.max_mean, 1.0), "{s:?}");
    }

    #[test]
    fn known_distributions() {
        // Everything on one of two queues: mean 1, deviation 1.
        let s = Spread::of(&[0, 2]);
        assert!(close(s.nstd, 1.0) && close(s.max_mean, 2.0), "{s:?}");
        // mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5.
        let s = Spread::of(&[1, 2, 3, 6]);
        assert!(close(s.nstd, 3.5f64.sqrt() / 3.0), "{s:?}");
        assert!(close(s.max_mean, 2.0), "{s:?}");
        // All on one of N queues: nstd = sqrt(N - 1), max/mean = N.
        let s = Spread::of(&[0, 0, 0, 0, 0, 0, 0, 40]);
        assert!(
            close(s.nstd, 7f64.sqrt()) && close(s.max_mean, 8.0),
            "{s:?}"
        );
    }

    #[test]
    fn empty_is_even() {
        assert_eq!(Spread::of(&[]).nstd, 0.0);
        assert_eq!(Spread::of(&[0, 0]).max_mean, 1.0);
    }

    #[test]
    fn summary_quantiles() {
        let mut values: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        let s = Summary::of(&mut values);
        assert!(
            close(s.mean, 50.0) && close(s.p05, 5.0) && close(s.p95, 95.0),
            "{s:?}"
        );
        assert!(close(quantile(&[1.0, 2.0], 0.5), 1.5));
        assert!(Summary::of(&mut []).mean.is_nan());
    }
}
