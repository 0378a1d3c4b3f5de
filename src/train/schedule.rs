//! Learning-rate schedules: linear warmup then linear decay to zero (Devlin et al. 2019; BERT
//! fine-tuning), and linear warmup then cosine annealing (Dai et al. 2019; Transformer-XL).

/// Learning rate at optimizer step `step` (0-based) of `total` steps.
///
/// lr(s) = peak · (s+1)/W for s < W, then peak · (T − s)/(T − W), where W = round(ratio · T).
/// The `+1` makes the first update use a non-zero rate, as libraries that step the scheduler
/// after the optimizer effectively do for step 1.
pub fn linear_warmup_decay(peak: f64, step: i64, total: i64, warmup_ratio: f64) -> f64 {
    with_warmup(peak, step, total, warmup_ratio, |total, warmup| {
        let remaining = (total - step).max(0) as f64;
        let span = (total - warmup).max(1) as f64;
        peak * remaining / span
    })
}

/// peak · (s+1)/W during the warmup of W = round(ratio · T) steps (T at least 1), then
/// `after(T, W)`.
fn with_warmup(
    peak: f64,
    step: i64,
    total: i64,
    warmup_ratio: f64,
    after: impl Fn(i64, i64) -> f64,
) -> f64 {
    let total = total.max(1);
    let warmup = (warmup_ratio * total as f64).round() as i64;
    match step < warmup {
        true => peak * (step + 1) as f64 / warmup as f64,
        false => after(total, warmup),
    }
}

/// Learning rate at optimizer step `step` (0-based) of `total` steps with linear warmup, then
/// cosine annealing to zero over all `total` steps, as the Transformer-XL training script
/// (`CosineAnnealingLR(max_step)` stepped with the global step after warmup):
///
/// lr(s) = peak · (s+1)/W for s < W, then peak · (1 + cos(π · s / T)) / 2,
/// where W = round(ratio · T).
pub fn cosine_warmup(peak: f64, step: i64, total: i64, warmup_ratio: f64) -> f64 {
    with_warmup(peak, step, total, warmup_ratio, |total, _| {
        let t = step.min(total) as f64 / total as f64;
        peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_anneals_over_all_steps() {
        // 8 steps, no warmup: peak at 0, half at T/2, 0 at T.
        assert_eq!(cosine_warmup(2.0, 0, 8, 0.0), 2.0);
        assert!((cosine_warmup(2.0, 4, 8, 0.0) - 1.0).abs() < 1e-12);
        assert!((cosine_warmup(2.0, 2, 8, 0.0) - (1.0 + 0.5f64.sqrt())).abs() < 1e-12);
        assert!(cosine_warmup(2.0, 8, 8, 0.0).abs() < 1e-12);
        // 25% warmup of 8 steps: W = 2.
        assert_eq!(cosine_warmup(2.0, 0, 8, 0.25), 1.0);
        assert_eq!(cosine_warmup(2.0, 1, 8, 0.25), 2.0);
        assert!((cosine_warmup(2.0, 2, 8, 0.25) - (1.0 + 0.5f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn warms_up_linearly_then_decays_to_zero() {
        // 10 steps, 20% warmup → W = 2: 0.5, 1.0 of peak, then (10−s)/8.
        let lr: Vec<f64> = (0..10)
            .map(|s| linear_warmup_decay(2.0, s, 10, 0.2))
            .collect();
        let expected = [1.0, 2.0, 2.0, 1.75, 1.5, 1.25, 1.0, 0.75, 0.5, 0.25];
        for (got, want) in lr.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{lr:?}");
        }
        assert_eq!(linear_warmup_decay(2.0, 10, 10, 0.2), 0.0);
    }

    #[test]
    fn no_warmup_starts_at_peak() {
        assert_eq!(linear_warmup_decay(1.0, 0, 4, 0.0), 1.0);
        assert_eq!(linear_warmup_decay(1.0, 3, 4, 0.0), 0.25);
    }
}
