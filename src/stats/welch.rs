//! Welch's unequal-variances t-test for a difference of means (Welch 1947), two-sided:
//! t = (x̄₁ − x̄₂) / √(s₁²/n₁ + s₂²/n₂), with Welch–Satterthwaite degrees of freedom
//! ν = (s₁²/n₁ + s₂²/n₂)² / ((s₁²/n₁)²/(n₁ − 1) + (s₂²/n₂)²/(n₂ − 1)).
//! Same as `scipy.stats.ttest_ind(x1, x2, equal_var=False)`.

use super::distributions::t_two_sided_p;
use super::summary::{mean, variance};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WelchT {
    /// Difference of means, x̄₁ − x̄₂.
    pub difference: f64,
    pub statistic: f64,
    pub df: f64,
    pub p_value: f64,
}

/// Welch's test of `x1` against `x2`; `None` unless both have at least two values.
/// With both variances zero the statistic is ±∞ (p = 0) for different means, NaN otherwise.
pub fn welch_t_test(x1: &[f64], x2: &[f64]) -> Option<WelchT> {
    if x1.len() < 2 || x2.len() < 2 {
        return None;
    }
    let (n1, n2) = (x1.len() as f64, x2.len() as f64);
    let (a, b) = (variance(x1) / n1, variance(x2) / n2);
    let difference = mean(x1) - mean(x2);
    let statistic = difference / (a + b).sqrt();
    let df = (a + b).powi(2) / (a * a / (n1 - 1.0) + b * b / (n2 - 1.0));
    let p_value = if statistic.is_infinite() {
        0.0
    } else {
        t_two_sided_p(statistic, df)
    };
    Some(WelchT {
        difference,
        statistic,
        df,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{a} vs {b}");
    }

    #[test]
    fn matches_scipy() {
        let a = [0.81, 0.79, 0.86, 0.72, 0.9, 0.84, 0.77];
        let b = [0.80, 0.82, 0.81, 0.79, 0.83];
        // scipy 1.17.1: scipy.stats.ttest_ind(b, a, equal_var=False)
        // -> statistic=-0.12042221794178382, pvalue=0.9074742264667858, df=7.1252158323677515
        let r = welch_t_test(&b, &a).unwrap();
        close(r.statistic, -0.12042221794178382);
        close(r.p_value, 0.9074742264667858);
        close(r.df, 7.1252158323677515);
        // scipy.stats.ttest_ind([1,2,3,4], [10,11,13], equal_var=False)
        // -> statistic=-8.082424227628048, pvalue=0.001329432794794986, df=3.9593147751605993
        let r = welch_t_test(&[1.0, 2.0, 3.0, 4.0], &[10.0, 11.0, 13.0]).unwrap();
        close(r.statistic, -8.082424227628048);
        close(r.p_value, 0.001329432794794986);
        close(r.df, 3.9593147751605993);
        close(r.difference, 2.5 - 34.0 / 3.0);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(welch_t_test(&[1.0], &[1.0, 2.0]).is_none());
        let r = welch_t_test(&[1.0, 1.0], &[2.0, 2.0]).unwrap();
        assert_eq!(r.p_value, 0.0);
        let r = welch_t_test(&[1.0, 1.0], &[1.0, 1.0]).unwrap();
        assert!(r.p_value.is_nan());
    }
}
