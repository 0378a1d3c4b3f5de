//! How many seeds decide a claim of a target value, by simulation. A target claim is decided
//! when the interval of the mean lies inside target ± tolerance (supported) or entirely outside
//! it (contradicted). With the pilot's mean m and std s taken as the truth, each replication
//! draws n normal scores N(m, s²) and forms the normal-theory interval x̄ ± t_{(1+level)/2, n−1}·ŝ/√n
//! (the stand-in for the report's bootstrap interval, which for few seeds is narrower); the
//! power at n is the fraction of replications that decide. Common random numbers: one set of
//! standard-normal draws per n, shifted and scaled.

use super::distributions::t_cdf;
use super::power::{smallest_n_reaching, standard_normal, PowerSettings};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The upper quantile t_{p, df} (p > 0.5), by bisection on the t distribution function.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    while t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// What a target claim is about: the pilot's mean and std, the target and tolerance, and the
/// confidence level of the interval.
#[derive(Debug, Clone, Copy)]
pub struct TargetProblem {
    pub mean: f64,
    pub std: f64,
    pub target: f64,
    pub tolerance: f64,
    pub level: f64,
}

/// Simulated probability that n seeds decide the claim.
pub fn decide_power(problem: &TargetProblem, n: usize, settings: &PowerSettings) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let p = problem;
    let c = t_quantile(0.5 + p.level / 2.0, (n - 1) as f64);
    let (band_lo, band_hi) = (p.target - p.tolerance, p.target + p.tolerance);
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut z = vec![0.0; n];
    let mut decided = 0usize;
    for _ in 0..settings.replications {
        for v in z.iter_mut() {
            *v = standard_normal(&mut rng);
        }
        let zbar = z.iter().sum::<f64>() / n as f64;
        let zsd = (z.iter().map(|v| (v - zbar).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let centre = p.mean + p.std * zbar;
        let half = c * p.std * zsd / (n as f64).sqrt();
        let (lo, hi) = (centre - half, centre + half);
        if (lo >= band_lo && hi <= band_hi) || lo > band_hi || hi < band_lo {
            decided += 1;
        }
    }
    decided as f64 / settings.replications as f64
}

/// The smallest n (at most `max_n`) at which the claim is decided with the target power;
/// `None` beyond `max_n` (a mean on the band's edge is never decided). Doubling, then
/// bisection, assuming the power grows with n.
pub fn seeds_to_decide_target(
    problem: &TargetProblem,
    settings: &PowerSettings,
    max_n: usize,
) -> Option<usize> {
    if !(problem.std.is_finite() && problem.mean.is_finite()) {
        return None;
    }
    let reaches = |n: usize| decide_power(problem, n, settings) >= settings.target_power;
    smallest_n_reaching(1, max_n, reaches)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference simulation (numpy 2.4.6, scipy 1.17.1, `rng = np.random.default_rng(5)`,
    /// R = 200,000 replications):
    /// ```text
    /// x = m + s * rng.standard_normal((R, n)); c = st.t.ppf((1 + level) / 2, n - 1)
    /// lo, hi = x.mean(1) -/+ c * x.std(1, ddof=1) / sqrt(n)
    /// decided = ((lo >= t - tol) & (hi <= t + tol)) | (lo > t + tol) | (hi < t - tol)
    /// (m, s, t, tol, n) = (1.05, 0.02, 1.033, 0.01, 5)   -> 0.09118
    ///                     (1.05, 0.02, 1.033, 0.01, 10)  -> 0.167745
    ///                     (1.035, 0.004, 1.033, 0.01, 4) -> 0.74291
    ///                     (1.035, 0.004, 1.033, 0.01, 8) -> 0.99768
    /// smallest n with power >= 0.8 (40,000 replications each): 66 and 5
    /// st.t.ppf(0.975, 4) -> 2.7764451051977934; st.t.ppf(0.975, 19) -> 2.0930240544083087
    /// ```
    #[test]
    fn matches_reference_simulation() {
        assert!((t_quantile(0.975, 4.0) - 2.7764451051977934).abs() < 1e-9);
        assert!((t_quantile(0.975, 19.0) - 2.0930240544083087).abs() < 1e-9);
        let s = PowerSettings::default();
        let far = TargetProblem {
            mean: 1.05,
            std: 0.02,
            target: 1.033,
            tolerance: 0.01,
            level: 0.95,
        };
        let near = TargetProblem {
            mean: 1.035,
            std: 0.004,
            ..far
        };
        for (problem, n, expected) in [
            (&far, 5, 0.09118_f64),
            (&far, 10, 0.167745),
            (&near, 4, 0.74291),
            (&near, 8, 0.99768),
        ] {
            let p = decide_power(problem, n, &s);
            let se = (expected * (1.0 - expected) * (1.0 / 4000.0 + 1.0 / 200000.0)).sqrt();
            assert!(
                (p - expected).abs() < 3.0 * se + 1e-3,
                "n = {n}: {p} vs {expected}"
            );
        }
        let n_far = seeds_to_decide_target(&far, &s, 400).unwrap();
        assert!((58..=74).contains(&n_far), "{n_far}");
        assert_eq!(seeds_to_decide_target(&near, &s, 400), Some(5));
        // On the band's edge the claim is never decided with 80% power.
        let edge = TargetProblem { mean: 1.043, ..far };
        assert_eq!(seeds_to_decide_target(&edge, &s, 64), None);
    }
}
