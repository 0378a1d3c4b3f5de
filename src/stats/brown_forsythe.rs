//! The Brown–Forsythe test of equal variances (Levene's test centred on group medians;
//! Brown & Forsythe 1974, JASA 69:364). With z_ij = |y_ij − median_i|,
//!
//! W = (N − k) / (k − 1) · Σ_i n_i (z̄_i· − z̄··)² / Σ_i Σ_j (z_ij − z̄_i·)²,
//!
//! referred to F(k − 1, N − k). Same statistic as `scipy.stats.levene(..., center='median')`.

use super::distributions::f_sf;
use super::summary::median;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BrownForsythe {
    pub statistic: f64,
    pub df1: f64,
    pub df2: f64,
    pub p_value: f64,
}

/// The test over `groups` (each with at least two values, at least two groups); `None` otherwise.
/// When every deviation from the group medians is zero the statistic is undefined (NaN).
pub fn brown_forsythe(groups: &[&[f64]]) -> Option<BrownForsythe> {
    let k = groups.len();
    if k < 2 || groups.iter().any(|g| g.len() < 2) {
        return None;
    }
    let z: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| {
            let m = median(g);
            g.iter().map(|v| (v - m).abs()).collect()
        })
        .collect();
    let n_total: usize = z.iter().map(Vec::len).sum();
    let group_means: Vec<f64> = z
        .iter()
        .map(|g| g.iter().sum::<f64>() / g.len() as f64)
        .collect();
    let grand_mean = z.iter().flatten().sum::<f64>() / n_total as f64;
    let between: f64 = z
        .iter()
        .zip(&group_means)
        .map(|(g, m)| g.len() as f64 * (m - grand_mean).powi(2))
        .sum();
    let within: f64 = z
        .iter()
        .zip(&group_means)
        .map(|(g, m)| g.iter().map(|v| (v - m).powi(2)).sum::<f64>())
        .sum();
    let df1 = (k - 1) as f64;
    let df2 = (n_total - k) as f64;
    let statistic = (df2 / df1) * between / within;
    let p_value = if statistic.is_finite() {
        f_sf(statistic, df1, df2)
    } else if within == 0.0 && between > 0.0 {
        0.0
    } else {
        f64::NAN
    };
    Some(BrownForsythe {
        statistic,
        df1,
        df2,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [f64; 7] = [0.81, 0.79, 0.86, 0.72, 0.9, 0.84, 0.77];
    const B: [f64; 5] = [0.80, 0.82, 0.81, 0.79, 0.83];
    const C: [f64; 6] = [0.6, 0.95, 0.7, 0.88, 0.5, 0.91];

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-10 * b.abs(), "{a} vs {b}");
    }

    #[test]
    fn two_groups_match_scipy() {
        // scipy 1.17.1: scipy.stats.levene(A, B, center='median')
        // -> statistic=4.571841344890995, pvalue=0.05821265912800932
        let r = brown_forsythe(&[&A, &B]).unwrap();
        close(r.statistic, 4.571841344890995);
        close(r.p_value, 0.05821265912800932);
        assert_eq!((r.df1, r.df2), (1.0, 10.0));
    }

    #[test]
    fn three_groups_match_scipy() {
        // scipy.stats.levene(A, B, C, center='median')
        // -> statistic=13.566511360067008, pvalue=0.00043252858199034345
        let r = brown_forsythe(&[&A, &B, &C]).unwrap();
        close(r.statistic, 13.566511360067008);
        close(r.p_value, 0.00043252858199034345);
    }

    #[test]
    fn hand_computation() {
        // By hand: [1,2,3] has median 2, z = 1,0,1, z̄ = 2/3; [2,4,6,8] has median 5, z = 3,1,1,3,
        // z̄ = 2; grand z̄ = 10/7. Between = 3(2/3 − 10/7)² + 4(2 − 10/7)² = 64/21; within =
        // 2/3 + 4 = 14/3; W = (7 − 2)/(2 − 1) · (64/21)/(14/3) = 160/49 = 3.2653061224489797.
        // scipy.stats.levene([1,2,3],[2,4,6,8], center='median')
        // -> statistic=3.2653061224489797, pvalue=0.1305729770769559
        let r = brown_forsythe(&[&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0, 8.0]]).unwrap();
        close(r.statistic, 3.2653061224489797);
        close(r.p_value, 0.1305729770769559);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(brown_forsythe(&[&A]).is_none());
        assert!(brown_forsythe(&[&A, &[1.0]]).is_none());
        let r = brown_forsythe(&[&[1.0, 1.0, 1.0], &[2.0, 2.0, 2.0]]).unwrap();
        assert!(r.statistic.is_nan() && r.p_value.is_nan());
    }
}
