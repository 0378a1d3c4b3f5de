//! McNemar's test of paired predictions (McNemar 1947), exact form: two variants evaluated on
//! the same examples (same seed, same evaluation set) differ in accuracy only through the
//! discordant examples, `b` (A right, B wrong) and `c` (A wrong, B right). Under the null of
//! equal accuracy each discordant example is a fair coin, so b ~ Binomial(b + c, 1/2), and the
//! two-sided p-value is min(1, 2 · P(X ≤ min(b, c))).

use super::distributions::ln_gamma;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct McNemar {
    /// Examples A got right and B got wrong.
    pub a_only: u64,
    /// Examples B got right and A got wrong.
    pub b_only: u64,
    /// Examples both got right or both got wrong.
    pub concordant: u64,
    /// Two-sided exact p-value.
    pub p_value: f64,
}

/// ln C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// The exact two-sided p-value of `b` against `c` discordant examples.
pub fn exact_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 || b == c {
        return 1.0;
    }
    let k_max = b.min(c);
    let ln_half_n = n as f64 * 0.5f64.ln();
    let tail: f64 = (0..=k_max)
        .map(|k| (ln_choose(n, k) + ln_half_n).exp())
        .sum();
    (2.0 * tail).min(1.0)
}

/// McNemar's test from per-example correctness of two variants on the same examples; `None`
/// when the lengths differ or there are no examples.
pub fn mcnemar(a_correct: &[bool], b_correct: &[bool]) -> Option<McNemar> {
    if a_correct.len() != b_correct.len() || a_correct.is_empty() {
        return None;
    }
    let (mut a_only, mut b_only) = (0u64, 0u64);
    for (&a, &b) in a_correct.iter().zip(b_correct) {
        match (a, b) {
            (true, false) => a_only += 1,
            (false, true) => b_only += 1,
            _ => {}
        }
    }
    Some(McNemar {
        a_only,
        b_only,
        concordant: a_correct.len() as u64 - a_only - b_only,
        p_value: exact_p(a_only, b_only),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn exact_p_values_match_statsmodels() {
        // statsmodels 0.15.0: mcnemar([[n11, b], [c, n22]], exact=True).pvalue
        for (b, c, want) in [
            (12, 5, 0.143463134765625),
            (0, 7, 0.015625),
            (3, 3, 1.0),
            (1, 20, 2.09808349609375e-05),
        ] {
            let got = exact_p(b, c);
            assert!(
                (got - want).abs() < 1e-12 * want.max(1e-3),
                "{b} {c}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn counts_come_from_paired_predictions() {
        let a = [true, true, false, false, true];
        let b = [true, false, true, false, false];
        let t = mcnemar(&a, &b).unwrap();
        assert_eq!((t.a_only, t.b_only, t.concordant), (2, 1, 2));
        assert!((t.p_value - 1.0).abs() < 1e-12, "{t:?}");
        assert!(mcnemar(&a, &b[..4]).is_none());
    }

    #[test]
    fn under_the_null_a_five_percent_test_rejects_at_most_five_percent() {
        // Two variants with the same accuracy on 200 examples, 30% of them discordant: the
        // exact test is conservative, so it rejects at most 5% (plus Monte-Carlo error) and
        // not far below (its actual size at n ≈ 60 discordant pairs is about 3–4%).
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let trials = 4000;
        let mut rejected = 0;
        for _ in 0..trials {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..200 {
                let both = rng.random_bool(0.7);
                let right = rng.random_bool(0.8);
                let coin = rng.random_bool(0.5);
                a.push(if both { right } else { coin });
                b.push(if both { right } else { !coin });
            }
            if mcnemar(&a, &b).unwrap().p_value < 0.05 {
                rejected += 1;
            }
        }
        let rate = rejected as f64 / trials as f64;
        let se = (0.05 * 0.95 / trials as f64).sqrt();
        assert!(rate <= 0.05 + 3.0 * se, "{rate}");
        assert!(rate >= 0.02, "{rate}");
    }
}
