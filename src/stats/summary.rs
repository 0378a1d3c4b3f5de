//! Descriptive statistics of one sample: n, mean, standard deviation (ddof = 1), standard error,
//! minimum, median and maximum.

use serde::Serialize;

/// Summary of a sample of finite values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation with Bessel's correction (ddof = 1); NaN when n < 2.
    pub std: f64,
    /// Standard error of the mean, std / √n; NaN when n < 2.
    pub se: f64,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Summary {
    /// Summarises `values`; `None` when the sample is empty. Non-finite values must be filtered
    /// out by the caller (a diverged run is not a sample point).
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let std = std_dev(values);
        Some(Summary {
            n,
            mean: mean(values),
            std,
            se: std / (n as f64).sqrt(),
            min: sorted[0],
            median: quantile_sorted(&sorted, 0.5),
            max: sorted[n - 1],
        })
    }
}

/// Arithmetic mean; NaN for an empty sample.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample variance with ddof = 1 (two-pass); NaN when n < 2.
pub fn variance(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return f64::NAN;
    }
    let m = mean(values);
    values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64
}

/// Sample standard deviation with ddof = 1; NaN when n < 2.
pub fn std_dev(values: &[f64]) -> f64 {
    variance(values).sqrt()
}

/// Median of an unsorted sample (mean of the two middle values for even n); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile_sorted(&sorted, 0.5)
}

/// Quantile `q` in [0, 1] of an ascending sample, linear interpolation between order statistics
/// (Hyndman & Fan definition 7, numpy's default); NaN when empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = h - lo as f64;
    if frac == 0.0 || sorted[lo] == sorted[hi] {
        // Equal neighbours (infinite ones included, where interpolating would give NaN).
        sorted[lo]
    } else {
        sorted[lo] + frac * (sorted[hi] - sorted[lo])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_between_infinite_neighbours_are_infinite() {
        let sorted = [0.5, 1.0, f64::INFINITY, f64::INFINITY];
        assert_eq!(quantile_sorted(&sorted, 0.9), f64::INFINITY);
        assert_eq!(quantile_sorted(&sorted, 0.5), f64::INFINITY); // between 1.0 and inf
        assert_eq!(quantile_sorted(&sorted, 0.0), 0.5);
    }

    #[test]
    fn summary_matches_numpy() {
        let x = [0.81, 0.79, 0.86, 0.72, 0.9, 0.84, 0.77];
        let s = Summary::of(&x).unwrap();
        assert_eq!(s.n, 7);
        // numpy 2.x: np.mean(x) -> 0.8128571428571428
        assert!((s.mean - 0.8128571428571428).abs() < 1e-15);
        // np.std(x, ddof=1) -> 0.05992058236095667
        assert!((s.std - 0.05992058236095667).abs() < 1e-15);
        // np.std(x, ddof=1) / np.sqrt(7) -> 0.022647851334464984
        assert!((s.se - 0.022647851334464984).abs() < 1e-15);
        // np.median(x) -> 0.81
        assert_eq!(s.median, 0.81);
        assert_eq!((s.min, s.max), (0.72, 0.9));
    }

    #[test]
    fn quantiles_match_numpy() {
        let mut y = [3.0, 1.0, 4.0, 1.5];
        y.sort_by(f64::total_cmp);
        // np.median([3.0, 1.0, 4.0, 1.5]) -> 2.25
        assert_eq!(median(&[3.0, 1.0, 4.0, 1.5]), 2.25);
        // np.quantile(y, 0.025) -> 1.0375; np.quantile(y, 0.975) -> 3.925; np.quantile(y, 0.3) -> 1.45
        assert!((quantile_sorted(&y, 0.025) - 1.0375).abs() < 1e-12);
        assert!((quantile_sorted(&y, 0.975) - 3.925).abs() < 1e-12);
        assert!((quantile_sorted(&y, 0.3) - 1.45).abs() < 1e-12);
    }

    #[test]
    fn small_samples() {
        assert!(Summary::of(&[]).is_none());
        let one = Summary::of(&[0.5]).unwrap();
        assert_eq!((one.n, one.mean, one.median), (1, 0.5, 0.5));
        assert!(one.std.is_nan() && one.se.is_nan());
    }
}
