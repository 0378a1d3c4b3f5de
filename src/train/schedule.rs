//! Linear warmup then linear decay to zero (Devlin et al. 2019; the schedule of BERT fine-tuning).

/// Learning rate at optimizer step `step` (0-based) of `total` steps.
///
/// lr(s) = peak · (s+1)/W for s < W, then peak · (T − s)/(T − W), where W = round(ratio · T).
/// The `+1` makes the first update use a non-zero rate, as libraries that step the scheduler
/// after the optimizer effectively do for step 1.
pub fn linear_warmup_decay(peak: f64, step: i64, total: i64, warmup_ratio: f64) -> f64 {
    let total = total.max(1);
    let warmup = (warmup_ratio * total as f64).round() as i64;
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let remaining = (total - step).max(0) as f64;
        let span = (total - warmup).max(1) as f64;
        peak * remaining / span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
