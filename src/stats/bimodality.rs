//! A Monte Carlo test of normality against bimodality, for deciding when a normal-theory reading
//! of a sample (its std, a power computed for normal scores) needs a distribution-free companion.
//!
//! Statistic: the bimodality coefficient b = (g₁² + 1) / β₂ (Pearson 1894; SAS's "BC" without its
//! small-sample corrections), with g₁ the moment skewness m₃/m₂^{3/2} and β₂ = m₄/m₂² the moment
//! kurtosis. b ≤ 1 always; a normal distribution has b = 1/3, a uniform 5/9, two equal point
//! masses 1, so large values point to two modes (as when some fine-tuning seeds degenerate).
//! b is invariant under location and scale, so its null distribution for a sample of n normal
//! scores does not depend on the normal's mean or std: the p-value is
//! (1 + #{b* ≥ b}) / (R + 1) over R simulated standard-normal samples of the same n (an exact
//! Monte Carlo test, Barnard 1963). Needs n ≥ 4 and a sample that is not constant.

use super::power::standard_normal;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Settings of the test.
#[derive(Debug, Clone, Copy)]
pub struct BimodalitySettings {
    /// Simulated null samples.
    pub replications: usize,
    /// Level below which the p-value rejects normality.
    pub alpha: f64,
    pub seed: u64,
}

impl Default for BimodalitySettings {
    fn default() -> Self {
        BimodalitySettings {
            replications: 1999,
            alpha: 0.05,
            seed: 0xb1_0da1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bimodality {
    /// The bimodality coefficient b of the sample.
    pub coefficient: f64,
    /// Monte Carlo p-value of b under normality (one-sided: large b).
    pub p_value: f64,
    /// Whether p ≤ α.
    pub rejects_normality: bool,
}

/// The bimodality coefficient (g₁² + 1)/β₂ of `x`; `None` for n < 4 or a constant sample.
pub fn bimodality_coefficient(x: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 4 || x.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let nf = n as f64;
    let mean = x.iter().sum::<f64>() / nf;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for v in x {
        let d = v - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    let (m2, m3, m4) = (m2 / nf, m3 / nf, m4 / nf);
    if m2 <= 1e-300 || m2 <= 1e-24 * mean * mean {
        return None;
    }
    let g1 = m3 / m2.powf(1.5);
    Some((g1 * g1 + 1.0) / (m4 / (m2 * m2)))
}

/// The Monte Carlo test of `x` (see the module documentation); `None` where b is undefined.
pub fn bimodality_test(x: &[f64], settings: &BimodalitySettings) -> Option<Bimodality> {
    let b = bimodality_coefficient(x)?;
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut z = vec![0.0; x.len()];
    let mut at_least = 0usize;
    for _ in 0..settings.replications {
        for v in z.iter_mut() {
            *v = standard_normal(&mut rng);
        }
        // A simulated normal sample is constant with probability 0.
        if bimodality_coefficient(&z).is_some_and(|bz| bz >= b) {
            at_least += 1;
        }
    }
    let p = (1 + at_least) as f64 / (settings.replications + 1) as f64;
    Some(Bimodality {
        coefficient: b,
        p_value: p,
        rejects_normality: p <= settings.alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference (numpy 2.4.6, scipy 1.17.1; `import scipy.stats as st`):
    /// ```text
    /// def b(x, axis=-1):
    ///     g = st.skew(x, axis=axis, bias=True); k = st.kurtosis(x, axis=axis, fisher=False, bias=True)
    ///     return (g*g + 1) / k
    /// rng = np.random.default_rng(2)
    /// for x in [X1, X2, X3]:
    ///     bo = b(x); bs = b(rng.standard_normal((400000, len(x))))
    ///     p = ((bs >= bo).sum() + 1) / (len(bs) + 1)
    /// X1 = [0.5, 0.52, 0.51, 0.8, 0.82, 0.81, 0.79]  -> b 0.9827378038381912, p 6.2e-05
    /// X2 = [0.62, 0.70, 0.50, 0.66, 0.58]            -> b 0.57994526297035,   p 0.79346
    /// X3 = [0.31, 0.33, 0.30, 0.52, 0.61, 0.58, 0.66, 0.55, 0.63, 0.60] -> b 0.8255331234736268, p 0.0067475
    /// ```
    #[test]
    fn coefficient_and_p_value_match_reference() {
        let x1 = [0.5, 0.52, 0.51, 0.8, 0.82, 0.81, 0.79];
        let x2 = [0.62, 0.70, 0.50, 0.66, 0.58];
        let x3 = [0.31, 0.33, 0.30, 0.52, 0.61, 0.58, 0.66, 0.55, 0.63, 0.60];
        let s = BimodalitySettings {
            replications: 20_000,
            ..BimodalitySettings::default()
        };
        for (x, b, p) in [
            (&x1[..], 0.9827378038381912, 6.249984375039063e-05_f64),
            (&x2[..], 0.57994526297035, 0.7934580163549592),
            (&x3[..], 0.8255331234736268, 0.006747483131292172),
        ] {
            let t = bimodality_test(x, &s).unwrap();
            assert!(
                (t.coefficient - b).abs() < 1e-12,
                "{} vs {b}",
                t.coefficient
            );
            // Three Monte Carlo standard errors of the 20,000-sample p-value (plus 1/20001).
            let se = (p * (1.0 - p) / 20_000.0).sqrt();
            assert!(
                (t.p_value - p).abs() < 3.0 * se + 1.0 / 20_001.0,
                "{} vs {p}",
                t.p_value
            );
        }
        assert!(
            bimodality_test(&x1, &BimodalitySettings::default())
                .unwrap()
                .rejects_normality
        );
        assert!(
            !bimodality_test(&x2, &BimodalitySettings::default())
                .unwrap()
                .rejects_normality
        );
        assert_eq!(bimodality_coefficient(&[1.0, 2.0, 3.0]), None);
        assert_eq!(bimodality_coefficient(&[0.7; 6]), None);
    }

    /// Under the null (normal scores of any mean and std) the 5% test rejects 5% of samples, up
    /// to Monte Carlo error: 600 samples of 8 and of 20 scores, 3 standard errors √(.05·.95/600)
    /// = 0.0089 each side. A bimodal mixture (30% of seeds at a degenerate score) is rejected far
    /// more often.
    #[test]
    fn level_under_the_null_and_power_against_a_mixture() {
        let s = BimodalitySettings {
            replications: 499,
            ..BimodalitySettings::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for n in [8usize, 20] {
            let trials = 600;
            let mut rejected = 0;
            for t in 0..trials {
                let x: Vec<f64> = (0..n)
                    .map(|_| 0.7 + 0.03 * standard_normal(&mut rng))
                    .collect();
                let settings = BimodalitySettings {
                    seed: 1000 + t as u64,
                    ..s
                };
                if bimodality_test(&x, &settings).unwrap().rejects_normality {
                    rejected += 1;
                }
            }
            let rate = rejected as f64 / trials as f64;
            assert!((rate - 0.05).abs() < 3.0 * 0.0089, "n = {n}: {rate}");
        }
        let mut rejected = 0;
        for t in 0..200 {
            let x: Vec<f64> = (0..20)
                .map(|i| {
                    let centre = if i < 6 { 0.53 } else { 0.70 };
                    centre + 0.01 * standard_normal(&mut rng)
                })
                .collect();
            let settings = BimodalitySettings {
                seed: 5000 + t as u64,
                ..s
            };
            if bimodality_test(&x, &settings).unwrap().rejects_normality {
                rejected += 1;
            }
        }
        assert!(rejected > 150, "{rejected} of 200");
    }
}
