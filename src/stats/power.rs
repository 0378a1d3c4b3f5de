//! Power of the Brown–Forsythe test to detect a reduction of the standard deviation, by
//! simulation: both arms normal, the baseline N(0, 1), the other N(0, r²) with r = σ_v/σ_base;
//! power(r) is the fraction of simulated experiments in which the test rejects at level α.
//! The smallest detectable reduction 1 − r* is the one where power(r*) = the target power (80%),
//! found by bisection on r.
//!
//! The simulation uses common random numbers: one set of standard-normal draws serves every r.
//! Since |r·z − median(r·z)| = r·|z − median(z)|, the centred absolute deviations are computed once
//! and each power(r) is a linear pass, and power(r) is evaluated on the same draws for every r.
//! Normal data is the favourable case; heavier tails (common for fine-tuning scores) need more seeds.

use super::distributions::f_sf;
use super::summary::median;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Settings of the power simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerSettings {
    pub alpha: f64,
    pub target_power: f64,
    pub replications: usize,
    pub seed: u64,
}

impl Default for PowerSettings {
    fn default() -> Self {
        PowerSettings {
            alpha: 0.05,
            target_power: 0.8,
            replications: 4_000,
            seed: 0x9041_e500,
        }
    }
}

/// A standard-normal draw (Box–Muller).
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The upper-α critical value of F(d1, d2), by bisection on the survival function.
pub fn f_critical(alpha: f64, d1: f64, d2: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    while f_sf(hi, d1, d2) > alpha {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f_sf(mid, d1, d2) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Centred absolute deviations |z − median(z)| of the simulated arms, drawn once.
struct Draws {
    base: Vec<Vec<f64>>,
    other: Vec<Vec<f64>>,
}

impl Draws {
    fn new(n_base: usize, n_other: usize, settings: &PowerSettings) -> Draws {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let arm = |n: usize, rng: &mut ChaCha8Rng| {
            let z: Vec<f64> = (0..n).map(|_| standard_normal(rng)).collect();
            let m = median(&z);
            z.iter().map(|v| (v - m).abs()).collect::<Vec<f64>>()
        };
        let mut base = Vec::with_capacity(settings.replications);
        let mut other = Vec::with_capacity(settings.replications);
        for _ in 0..settings.replications {
            base.push(arm(n_base, &mut rng));
            other.push(arm(n_other, &mut rng));
        }
        Draws { base, other }
    }

    /// Fraction of replications in which the test statistic exceeds `critical` at ratio `r`.
    fn power(&self, r: f64, critical: f64) -> f64 {
        let mut rejections = 0usize;
        for (zb, zv) in self.base.iter().zip(&self.other) {
            let (nb, nv) = (zb.len() as f64, zv.len() as f64);
            let mb = zb.iter().sum::<f64>() / nb;
            let mv = r * zv.iter().sum::<f64>() / nv;
            let grand = (nb * mb + nv * mv) / (nb + nv);
            let between = nb * (mb - grand).powi(2) + nv * (mv - grand).powi(2);
            let within = zb.iter().map(|z| (z - mb).powi(2)).sum::<f64>()
                + zv.iter().map(|z| (r * z - mv).powi(2)).sum::<f64>();
            let w = (nb + nv - 2.0) * between / within;
            if w > critical {
                rejections += 1;
            }
        }
        rejections as f64 / self.base.len() as f64
    }
}

/// Simulated power of the two-group Brown–Forsythe test at level α for σ_v/σ_base = `ratio`.
pub fn brown_forsythe_power(
    n_base: usize,
    n_other: usize,
    ratio: f64,
    settings: &PowerSettings,
) -> f64 {
    if n_base < 2 || n_other < 2 {
        return f64::NAN;
    }
    let critical = f_critical(settings.alpha, 1.0, (n_base + n_other - 2) as f64);
    Draws::new(n_base, n_other, settings).power(ratio, critical)
}

/// The smallest relative std reduction 1 − σ_v/σ_base that the Brown–Forsythe test detects with
/// the target power at these sample sizes; `None` when no reduction short of 100% reaches it
/// (as with 5 seeds per arm).
pub fn min_detectable_reduction(
    n_base: usize,
    n_other: usize,
    settings: &PowerSettings,
) -> Option<f64> {
    if n_base < 2 || n_other < 2 {
        return None;
    }
    let critical = f_critical(settings.alpha, 1.0, (n_base + n_other - 2) as f64);
    let draws = Draws::new(n_base, n_other, settings);
    // power(r) falls from power(0⁺) to ≈ α at r = 1; find the largest r with power ≥ target.
    let (mut lo, mut hi) = (1e-4, 1.0);
    if draws.power(lo, critical) < settings.target_power {
        return None;
    }
    for _ in 0..30 {
        let mid = 0.5 * (lo + hi);
        if draws.power(mid, critical) >= settings.target_power {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(1.0 - lo)
}

/// The smallest number of seeds per arm (equal arms, at most `max_n`) with which the
/// Brown–Forsythe test detects σ_v/σ_base = `ratio` with the target power; `None` beyond `max_n`.
/// Doubling then bisection on n, assuming power grows with n.
pub fn seeds_needed(ratio: f64, settings: &PowerSettings, max_n: usize) -> Option<usize> {
    let reaches = |n: usize| {
        let critical = f_critical(settings.alpha, 1.0, (2 * n - 2) as f64);
        Draws::new(n, n, settings).power(ratio, critical) >= settings.target_power
    };
    smallest_n_reaching(2, max_n, reaches)
}

/// The smallest n in (`lo`, `max_n`] for which `reaches(n)`, assuming `reaches` turns true once
/// and stays so as n grows (and is false at `lo`): doubling from `lo`, then bisection.
/// `None` when it is false at `max_n`, or when the range is empty (`max_n` ≤ `lo`).
pub fn smallest_n_reaching(
    lo: usize,
    max_n: usize,
    reaches: impl Fn(usize) -> bool,
) -> Option<usize> {
    if max_n <= lo {
        return None;
    }
    let (mut lo, mut hi) = (lo, (2 * lo).min(max_n));
    while !reaches(hi) {
        if hi == max_n {
            return None;
        }
        lo = hi;
        hi = (2 * hi).min(max_n);
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Seeds per arm that decide a std-reduction claim with the target power, given the pilot's
/// observed ratio r̂ = σ_v/σ_ref as the truth. The claim (ratio r₀ = 1 − reduction) is decided
/// once the data exclude ratio 1 (no effect) or exclude r₀; excluding a ratio ρ is, after
/// scaling the reference arm by ρ, the Brown–Forsythe test of equal spread at true ratio r̂/ρ,
/// and with equal arms the power at q and 1/q is the same. The answer is the smaller of the two
/// [`seeds_needed`] (either decision suffices); `None` beyond `max_n` or when r̂ is not a
/// positive number.
pub fn seeds_to_decide_ratio(
    observed: f64,
    claimed: f64,
    settings: &PowerSettings,
    max_n: usize,
) -> Option<usize> {
    if !(observed.is_finite() && observed > 0.0 && claimed > 0.0) {
        return None;
    }
    [observed, observed / claimed]
        .into_iter()
        .map(|q| if q > 1.0 { 1.0 / q } else { q })
        .filter(|q| *q < 1.0 - 1e-9)
        .filter_map(|q| seeds_needed(q, settings, max_n))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::brown_forsythe::brown_forsythe;

    #[test]
    fn the_smallest_n_is_found_for_every_threshold() {
        for lo in [1, 2] {
            for max_n in 0..=lo {
                assert_eq!(
                    smallest_n_reaching(lo, max_n, |_| true),
                    None,
                    "empty range"
                );
            }
            for max_n in lo + 1..40 {
                for k in lo + 1..=max_n + 1 {
                    let calls = std::cell::Cell::new(0);
                    let reaches = |n: usize| {
                        calls.set(calls.get() + 1);
                        n >= k
                    };
                    let found = smallest_n_reaching(lo, max_n, reaches);
                    assert_eq!(
                        found,
                        (k <= max_n).then_some(k),
                        "lo {lo} max {max_n} k {k}"
                    );
                    assert!(calls.get() <= 2 * (max_n as f64).log2().ceil() as usize + 2);
                }
            }
        }
    }

    /// Reference simulation (numpy/scipy, 20,000 replications; its vectorised statistic checked
    /// against `scipy.stats.levene(b, v, center='median')`), in outline:
    /// ```text
    /// b = rng.standard_normal((20000, nb)); v = r * rng.standard_normal((20000, nv))
    /// power = mean(scipy.stats.f.sf(W, 1, nb + nv - 2) < 0.05)
    /// (10, 10, r=0.5) -> 0.3021    (50, 50, r=0.7) -> 0.60055    (5, 5, r=0.3) -> 0.095
    /// (5, 5, r=1e-4) -> 0.52335    (10, 10, r=1e-4) -> 0.99785
    /// bisection on r for power 0.8: n = 20 -> r* = 0.45971 (reduction 0.5403),
    ///                               n = 50 -> r* = 0.64048 (reduction 0.3595)
    /// ```
    /// Tolerances: three combined Monte Carlo standard errors (4,000 and 20,000 replications).
    #[test]
    fn power_matches_reference_simulation() {
        let s = PowerSettings::default();
        for (n, r, expected) in [
            (10, 0.5, 0.3021_f64),
            (50, 0.7, 0.60055),
            (5, 0.3, 0.095),
            (5, 1e-4, 0.52335),
        ] {
            let p = brown_forsythe_power(n, n, r, &s);
            let se = (expected * (1.0 - expected) * (1.0 / 4000.0 + 1.0 / 20000.0)).sqrt();
            assert!(
                (p - expected).abs() < 3.0 * se,
                "n={n} r={r}: {p} vs {expected}"
            );
        }
    }

    #[test]
    fn min_detectable_reduction_matches_reference() {
        let s = PowerSettings::default();
        let d20 = min_detectable_reduction(20, 20, &s).unwrap();
        assert!((d20 - 0.5403).abs() < 0.02, "{d20}");
        let d50 = min_detectable_reduction(50, 50, &s).unwrap();
        assert!((d50 - 0.3595).abs() < 0.02, "{d50}");
        // With 5 seeds per arm even σ_v → 0 is detected only about half the time.
        assert_eq!(min_detectable_reduction(5, 5, &s), None);
        assert_eq!(min_detectable_reduction(1, 5, &s), None);
    }

    /// Reference: the same numpy simulation, bisection on n for power 0.8 (20,000 replications):
    /// r = 0.7 (a 30% reduction) -> 76 seeds per arm; r = 0.5 -> 25.
    #[test]
    fn seeds_needed_matches_reference() {
        let s = PowerSettings::default();
        let n70 = seeds_needed(0.7, &s, 400).unwrap();
        assert!((70..=82).contains(&n70), "{n70}");
        let n50 = seeds_needed(0.5, &s, 400).unwrap();
        assert!((22..=28).contains(&n50), "{n50}");
        assert_eq!(seeds_needed(0.7, &s, 20), None);
    }

    /// Composed from `seeds_needed` (checked above against numpy): a pilot at the claimed ratio
    /// needs what detecting that ratio against 1 needs; a pilot at ratio 0.5 against a claimed
    /// 0.7 needs the smaller of the two tests (0.5 against 1, ≈25 seeds); a pilot with no
    /// difference in spread (ratio 1) is decided only by excluding the claimed 0.7 (ratio 1/0.7).
    #[test]
    fn seeds_to_decide_a_ratio_claim() {
        let s = PowerSettings::default();
        let at_claim = seeds_to_decide_ratio(0.7, 0.7, &s, 400).unwrap();
        assert_eq!(Some(at_claim), seeds_needed(0.7, &s, 400));
        let strong = seeds_to_decide_ratio(0.5, 0.7, &s, 400).unwrap();
        assert_eq!(Some(strong), seeds_needed(0.5, &s, 400));
        assert!((22..=28).contains(&strong), "{strong}");
        let none = seeds_to_decide_ratio(1.0, 0.7, &s, 400).unwrap();
        assert_eq!(Some(none), seeds_needed(0.7, &s, 400));
        assert_eq!(seeds_to_decide_ratio(0.7, 0.7, &s, 20), None);
        assert_eq!(seeds_to_decide_ratio(f64::NAN, 0.7, &s, 400), None);
    }

    #[test]
    fn f_critical_matches_scipy() {
        // scipy.stats.f.isf(0.05, 1, 18) -> 4.413873419170566; f.isf(0.05, 1, 98) -> 3.938111078003371
        assert!((f_critical(0.05, 1.0, 18.0) - 4.413873419170566).abs() < 1e-9);
        assert!((f_critical(0.05, 1.0, 98.0) - 3.938111078003371).abs() < 1e-9);
    }

    /// The scaled shortcut gives the same statistic as the direct Brown–Forsythe implementation.
    #[test]
    fn fast_statistic_agrees_with_direct() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (nb, nv, r) in [(7, 9, 0.6), (12, 5, 1.7), (4, 4, 0.2)] {
            let zb: Vec<f64> = (0..nb).map(|_| standard_normal(&mut rng)).collect();
            let zv: Vec<f64> = (0..nv).map(|_| standard_normal(&mut rng)).collect();
            let v: Vec<f64> = zv.iter().map(|z| r * z).collect();
            let direct = brown_forsythe(&[&zb, &v]).unwrap().statistic;
            let dev = |z: &[f64]| {
                let m = median(z);
                z.iter().map(|x| (x - m).abs()).collect::<Vec<f64>>()
            };
            let draws = Draws {
                base: vec![dev(&zb)],
                other: vec![dev(&zv)],
            };
            assert_eq!(draws.power(r, direct * (1.0 - 1e-9)), 1.0);
            assert_eq!(draws.power(r, direct * (1.0 + 1e-9)), 0.0);
        }
    }
}
