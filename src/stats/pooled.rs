//! The σ ratio pooled over several tasks, for claims made "on multiple tasks": the geometric
//! mean of the per-task ratios σ_v/σ_ref, exp(mean_t log(σ_v,t/σ_ref,t)), which is free of each
//! task's scale (accuracy, MCC and correlations have different spreads). Its interval is a
//! stratified percentile bootstrap: every resample draws seeds with replacement within each task
//! and arm, never across tasks (as rliable does for aggregates over tasks; Agarwal et al. 2021).
//! As in `bootstrap.rs`, resamples whose pooled ratio is undefined (0/0 in a task, or a task at 0
//! and another at +∞) are left out, and ±∞ from one constant resampled arm stays in.

use super::bootstrap::{percentile_interval, resampled_std, Bootstrap, Interval};
use super::summary::std_dev;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One task's two arms: the variant's scores and the reference's.
#[derive(Debug, Clone, Copy)]
pub struct Stratum<'a> {
    pub variant: &'a [f64],
    pub reference: &'a [f64],
}

fn usable(strata: &[Stratum]) -> bool {
    !strata.is_empty()
        && strata
            .iter()
            .all(|s| s.variant.len() >= 2 && s.reference.len() >= 2)
}

fn pooled(log_ratios: impl Iterator<Item = f64>, k: usize) -> f64 {
    (log_ratios.sum::<f64>() / k as f64).exp()
}

/// The geometric mean over tasks of σ_v/σ_ref; `None` without tasks or with a task that has
/// fewer than two scores in an arm.
pub fn pooled_std_ratio(strata: &[Stratum]) -> Option<f64> {
    if !usable(strata) {
        return None;
    }
    Some(pooled(
        strata
            .iter()
            .map(|s| std_dev(s.variant).ln() - std_dev(s.reference).ln()),
        strata.len(),
    ))
}

/// Stratified percentile bootstrap interval of [`pooled_std_ratio`].
pub fn pooled_std_ratio_interval(bootstrap: &Bootstrap, strata: &[Stratum]) -> Option<Interval> {
    if !usable(strata) {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(bootstrap.seed);
    let mut buf = Vec::new();
    let stats = (0..bootstrap.resamples)
        .map(|_| {
            let logs: Vec<f64> = strata
                .iter()
                .map(|s| {
                    let sv = resampled_std(s.variant, &mut rng, &mut buf);
                    let sr = resampled_std(s.reference, &mut rng, &mut buf);
                    sv.ln() - sr.ln()
                })
                .collect();
            pooled(logs.into_iter(), strata.len())
        })
        .collect();
    percentile_interval(stats, bootstrap.level)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: [(&[f64], &[f64]); 3] = [
        (
            &[0.81, 0.79, 0.86, 0.72, 0.9, 0.84],
            &[0.80, 0.82, 0.81, 0.79, 0.83, 0.7],
        ),
        (
            &[0.55, 0.61, 0.58, 0.66, 0.52],
            &[0.40, 0.66, 0.58, 0.71, 0.49, 0.62],
        ),
        (
            &[0.88, 0.87, 0.90, 0.86, 0.89],
            &[0.85, 0.91, 0.80, 0.89, 0.87],
        ),
    ];

    fn strata() -> Vec<Stratum<'static>> {
        S.iter()
            .map(|(v, r)| Stratum {
                variant: v,
                reference: r,
            })
            .collect()
    }

    /// Reference (numpy 2.4.6, `rng = np.random.default_rng(2)`, `sd = np.std(., ddof=1)`): the point estimate
    /// `np.exp(np.mean([np.log(sd(v)/sd(r)) for v, r in S]))` -> 0.6169155135553399, and the
    /// same stratified bootstrap with 2,000,000 resamples:
    /// ```text
    /// for v, r in S:
    ///     sv = np.std(v[rng.integers(0, len(v), (R, len(v)))], axis=1, ddof=1)
    ///     sr = np.std(r[rng.integers(0, len(r), (R, len(r)))], axis=1, ddof=1)
    ///     tot += np.log(sv) - np.log(sr)
    /// x = np.exp(tot / len(S)); x = x[~np.isnan(x)]
    /// np.quantile(x, [0.0225, 0.025, 0.0275], method='inverted_cdf')
    ///     -> 0.34369414762118294, 0.34887641948376774, 0.35375094150209707
    /// np.quantile(x, [0.9725, 0.975, 0.9775], method='inverted_cdf')
    ///     -> 1.3107123993916046, 1.3302494121476536, 1.3527740996954498
    /// ```
    /// 20,000 resamples here: the quantile estimates must fall within ±0.0025 in probability,
    /// over twice their Monte Carlo standard error 0.0011.
    #[test]
    fn pooled_ratio_and_interval_match_reference() {
        let st = strata();
        let p = pooled_std_ratio(&st).unwrap();
        assert!((p - 0.6169155135553399).abs() < 1e-12, "{p}");
        let b = Bootstrap {
            resamples: 20_000,
            level: 0.95,
            seed: 3,
        };
        let ci = pooled_std_ratio_interval(&b, &st).unwrap();
        assert!(
            (0.34369414762118294..=0.35375094150209707).contains(&ci.lower),
            "{ci:?}"
        );
        assert!(
            (1.3107123993916046..=1.3527740996954498).contains(&ci.upper),
            "{ci:?}"
        );
    }

    /// One task pools to its own ratio; the stratified interval of one task is the ordinary
    /// two-sample interval of `bootstrap.rs` (same draws in the same order).
    #[test]
    fn one_task_is_the_plain_ratio() {
        let st = &strata()[..1];
        let (v, r) = S[0];
        let plain = std_dev(v) / std_dev(r);
        assert!((pooled_std_ratio(st).unwrap() - plain).abs() < 1e-12);
        let b = Bootstrap::default();
        let a = pooled_std_ratio_interval(&b, st).unwrap();
        let c = b.std_ratio_interval(v, r).unwrap();
        assert!((a.lower - c.lower).abs() < 1e-12 && (a.upper - c.upper).abs() < 1e-12);
        assert!(pooled_std_ratio(&[]).is_none());
        assert!(pooled_std_ratio(&[Stratum {
            variant: &[1.0],
            reference: &[1.0, 2.0]
        }])
        .is_none());
    }
}
