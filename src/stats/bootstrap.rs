//! Seeded percentile bootstrap (Efron & Tibshirani 1993, ch. 13) of a standard deviation and of
//! the ratio of two standard deviations σ_v / σ_base, each group resampled independently with
//! replacement. A fixed seed makes every report reproducible.
//!
//! Resamples where the ratio is 0/0 (both resampled groups constant) are left out; a constant
//! baseline resample with a varying other group gives +∞, which stays in (it is a real outcome
//! of the bootstrap and widens the interval honestly).

use super::summary::{quantile_sorted, std_dev};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 10_000;
/// Default seed of the bootstrap stream.
pub const DEFAULT_SEED: u64 = 0x5eed_b007;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Resamples that gave a defined statistic.
    pub resamples: usize,
}

/// Settings of one bootstrap.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrap {
    pub resamples: usize,
    pub level: f64,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: DEFAULT_RESAMPLES,
            level: 0.95,
            seed: DEFAULT_SEED,
        }
    }
}

/// Sample standard deviation (ddof = 1) of a with-replacement resample of `x`, using `buf`.
pub(crate) fn resampled_std(x: &[f64], rng: &mut ChaCha8Rng, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend((0..x.len()).map(|_| x[rng.random_range(0..x.len())]));
    std_dev(buf)
}

/// The percentile interval of bootstrap statistics (NaN ones left out); `None` when none is left.
pub(crate) fn percentile_interval(mut stats: Vec<f64>, level: f64) -> Option<Interval> {
    stats.retain(|v| !v.is_nan());
    if stats.is_empty() {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(Interval {
        lower: quantile_sorted(&stats, alpha),
        upper: quantile_sorted(&stats, 1.0 - alpha),
        level,
        resamples: stats.len(),
    })
}

impl Bootstrap {
    /// Percentile interval of the standard deviation of `x`; `None` when n < 2.
    pub fn std_interval(&self, x: &[f64]) -> Option<Interval> {
        if x.len() < 2 {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut buf = Vec::with_capacity(x.len());
        let stats = (0..self.resamples)
            .map(|_| resampled_std(x, &mut rng, &mut buf))
            .collect();
        percentile_interval(stats, self.level)
    }

    /// Percentile interval of the mean of `x` (for claims of a target value); `None` when n < 2.
    pub fn mean_interval(&self, x: &[f64]) -> Option<Interval> {
        if x.len() < 2 {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let n = x.len();
        let stats = (0..self.resamples)
            .map(|_| (0..n).map(|_| x[rng.random_range(0..n)]).sum::<f64>() / n as f64)
            .collect();
        percentile_interval(stats, self.level)
    }

    /// Percentile interval of σ_v / σ_base, the two groups resampled independently;
    /// `None` when either group has fewer than two values.
    pub fn std_ratio_interval(&self, v: &[f64], base: &[f64]) -> Option<Interval> {
        if v.len() < 2 || base.len() < 2 {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut buf = Vec::with_capacity(v.len().max(base.len()));
        let stats = (0..self.resamples)
            .map(|_| {
                let sv = resampled_std(v, &mut rng, &mut buf);
                let sb = resampled_std(base, &mut rng, &mut buf);
                sv / sb
            })
            .collect();
        percentile_interval(stats, self.level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(value: f64, lo: f64, hi: f64) {
        assert!(value >= lo && value <= hi, "{value} not in [{lo}, {hi}]");
    }

    const B20K: Bootstrap = Bootstrap {
        resamples: 20_000,
        level: 0.95,
        seed: 7,
    };

    /// The Monte Carlo percentiles must land near the exact percentiles of the complete bootstrap
    /// distribution, enumerated over all 4⁴ · 5⁵ resample pairs in numpy:
    /// ```text
    /// sv = [np.std(c, ddof=1) for c in itertools.product([1,2,4,7], repeat=4)]
    /// sb = [np.std(c, ddof=1) for c in itertools.product([0,3,5,9,10], repeat=5)]
    /// r = sorted(a / b for all pairs, 0/0 dropped, a/0 = inf)    # 799,980 values
    /// np.quantile(r, 0.025, method='inverted_cdf') -> 0.1168811455530461
    ///     (quantiles 0.0225 .. 0.0275: 0.11381286340149635 .. 0.12021175920858626)
    /// np.quantile(r, 0.975, method='inverted_cdf') -> 1.5978709238739222
    ///     (quantiles 0.9725 .. 0.9775: 1.536590742882148 .. 1.6423667133294657)
    /// ```
    /// The accepted band is ±0.0025 in probability, over twice the Monte Carlo standard error
    /// √(0.025 · 0.975 / 20000) = 0.0011.
    #[test]
    fn ratio_interval_matches_exact_bootstrap_distribution() {
        let ci = B20K
            .std_ratio_interval(&[1.0, 2.0, 4.0, 7.0], &[0.0, 3.0, 5.0, 9.0, 10.0])
            .unwrap();
        within(ci.lower, 0.11381286340149635, 0.12021175920858626);
        within(ci.upper, 1.536590742882148, 1.6423667133294657);
        assert!(ci.resamples <= 20_000 && ci.resamples > 19_900);
    }

    /// Exact bootstrap distribution of the std of [0.3, 1.1, 2.0, 2.2, 4.5, 7.0] over all 6⁶
    /// resamples (numpy, as above): 2.5% quantile 0.6997618642557385 (band 0.6957010852370434 ..
    /// 0.7026141662866374), 97.5% quantile 3.1992186546092785 (band 3.199218654609278 ..
    /// 3.213513134665341).
    #[test]
    fn std_interval_matches_exact_bootstrap_distribution() {
        let ci = B20K.std_interval(&[0.3, 1.1, 2.0, 2.2, 4.5, 7.0]).unwrap();
        within(ci.lower, 0.6957010852370434, 0.7026141662866374);
        within(ci.upper, 3.199218654609278 - 1e-12, 3.213513134665341);
    }

    /// Exact bootstrap distribution of the mean of [0.3, 1.1, 2.0, 2.2, 4.5, 7.0] over all 6⁶
    /// resamples (`np.mean` of each of `itertools.product(x, repeat=6)`, quantiles with
    /// method='inverted_cdf'): 2.5% quantile 1.2 (band 1.1666666666666667 .. 1.25 at 2.25% ..
    /// 2.75%), 97.5% quantile 4.766666666666667 (band 4.766666666666667 .. 4.8).
    #[test]
    fn mean_interval_matches_exact_bootstrap_distribution() {
        let ci = B20K.mean_interval(&[0.3, 1.1, 2.0, 2.2, 4.5, 7.0]).unwrap();
        within(ci.lower, 1.1666666666666667 - 1e-12, 1.25 + 1e-12);
        within(ci.upper, 4.766666666666667 - 1e-12, 4.8 + 1e-12);
        assert!(B20K.mean_interval(&[1.0]).is_none());
    }

    #[test]
    fn seeded_and_reproducible() {
        let v = [0.81, 0.79, 0.86, 0.72, 0.9];
        let b = [0.80, 0.82, 0.81, 0.79, 0.83, 0.7];
        let one = Bootstrap::default().std_ratio_interval(&v, &b).unwrap();
        let two = Bootstrap::default().std_ratio_interval(&v, &b).unwrap();
        assert_eq!(one, two);
        let other = Bootstrap {
            seed: 1,
            ..Bootstrap::default()
        }
        .std_ratio_interval(&v, &b)
        .unwrap();
        assert_ne!(one, other);
        assert!(Bootstrap::default()
            .std_ratio_interval(&v, &[1.0])
            .is_none());
    }
}
