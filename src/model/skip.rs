//! Skip-retain layer schedules (METHODS §2).
//!
//! At every phase-1 training step, for every layer l in 0..N, one u ~ U[0,1) is drawn from the
//! run's "skip" stream and layer l is skipped when u < p_l; the whole batch skips the same
//! layers. A skipped layer is the identity on the hidden state and keeps its memory (see
//! [`crate::model::transformer_xl::Memory`]).

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Per-layer skip probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// p_l = 0.5 · l / N, with p_{N−1} = 0: the first and the last layer never skip
    /// (expected skipped layers 2.29 of 12, 3.03 of 15).
    Functional,
    /// p_l = p for every layer; with `exempt_first_last` the first and last layers never skip.
    Uniform {
        p: f64,
        #[serde(default)]
        exempt_first_last: bool,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("skip probability p = {0} is outside [0, 1]: set `p` to a value between 0 and 1")]
    Probability(f64),
}

impl Schedule {
    /// Checks that the probabilities lie in [0, 1].
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match *self {
            Schedule::Functional => Ok(()),
            Schedule::Uniform { p, .. } if (0.0..=1.0).contains(&p) => Ok(()),
            Schedule::Uniform { p, .. } => Err(ScheduleError::Probability(p)),
        }
    }

    /// p_l for l in 0..n_layers.
    pub fn probs(&self, n_layers: usize) -> Vec<f64> {
        (0..n_layers)
            .map(|l| match *self {
                Schedule::Functional if l + 1 == n_layers => 0.0,
                Schedule::Functional => 0.5 * l as f64 / n_layers as f64,
                Schedule::Uniform {
                    exempt_first_last: true,
                    ..
                } if l == 0 || l + 1 == n_layers => 0.0,
                Schedule::Uniform { p, .. } => p,
            })
            .collect()
    }

    /// One step's decisions: `true` where layer l is skipped. Always consumes exactly
    /// `n_layers` uniforms from `rng` (also for layers with p_l = 0), so the stream stays aligned
    /// across schedules.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R, n_layers: usize) -> Vec<bool> {
        self.probs(n_layers)
            .into_iter()
            .map(|p| rng.random::<f64>() < p)
            .collect()
    }

    /// Expected number of skipped layers per step, Σ_l p_l.
    pub fn expected_skipped(&self, n_layers: usize) -> f64 {
        self.probs(n_layers).iter().sum()
    }

    /// Expected fraction of skipped layers per step, Σ_l p_l / N.
    pub fn expected_fraction(&self, n_layers: usize) -> f64 {
        if n_layers == 0 {
            0.0
        } else {
            self.expected_skipped(n_layers) / n_layers as f64
        }
    }
}

/// Source of per-step skip decisions, called once per training forward pass (never in
/// evaluation). Returns one flag per layer, `true` = skip.
pub trait SkipDraws {
    fn draw(&mut self, n_layers: usize) -> Vec<bool>;
}

impl<F: FnMut(usize) -> Vec<bool>> SkipDraws for F {
    fn draw(&mut self, n_layers: usize) -> Vec<bool> {
        self(n_layers)
    }
}

/// A schedule bound to the run's seeded "skip" stream, counting what it decided so that the
/// observed skipped fraction can be reported next to [`Schedule::expected_fraction`].
#[derive(Debug, Clone)]
pub struct SkipRetain<R> {
    pub schedule: Schedule,
    pub rng: R,
    /// Layer decisions drawn so far (steps × layers).
    pub drawn: u64,
    /// Of those, how many were skips.
    pub skipped: u64,
}

impl<R: Rng> SkipRetain<R> {
    pub fn new(schedule: Schedule, rng: R) -> Self {
        SkipRetain {
            schedule,
            rng,
            drawn: 0,
            skipped: 0,
        }
    }

    /// Observed skipped fraction so far (0 before the first draw).
    pub fn observed_fraction(&self) -> f64 {
        if self.drawn == 0 {
            0.0
        } else {
            self.skipped as f64 / self.drawn as f64
        }
    }
}

impl<R: Rng> SkipDraws for SkipRetain<R> {
    fn draw(&mut self, n_layers: usize) -> Vec<bool> {
        let d = self.schedule.draw(&mut self.rng, n_layers);
        self.drawn += n_layers as u64;
        self.skipped += d.iter().filter(|&&s| s).count() as u64;
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn functional_schedule_matches_the_definition() {
        let p = Schedule::Functional.probs(12);
        assert_eq!(p[0], 0.0);
        assert_eq!(p[11], 0.0);
        assert!((p[5] - 0.5 * 5.0 / 12.0).abs() < 1e-12);
        // Expected skipped layers quoted in METHODS §2.
        assert!((Schedule::Functional.expected_skipped(12) - 2.2917).abs() < 1e-3);
        assert!((Schedule::Functional.expected_skipped(15) - 3.0333).abs() < 1e-3);
        assert_eq!(Schedule::Functional.probs(1), vec![0.0]);
    }

    #[test]
    fn uniform_schedule_exempts_first_and_last_only_when_asked() {
        let plain = Schedule::Uniform {
            p: 0.2,
            exempt_first_last: false,
        };
        assert_eq!(plain.probs(4), vec![0.2; 4]);
        let exempt = Schedule::Uniform {
            p: 0.2,
            exempt_first_last: true,
        };
        assert_eq!(exempt.probs(4), vec![0.0, 0.2, 0.2, 0.0]);
        assert!((exempt.expected_fraction(4) - 0.1).abs() < 1e-12);
        assert!(Schedule::Uniform {
            p: 1.5,
            exempt_first_last: false
        }
        .validate()
        .is_err());
    }

    #[test]
    fn draws_come_from_the_stream() {
        let s = Schedule::Functional;
        let a: Vec<Vec<bool>> = {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            (0..50).map(|_| s.draw(&mut rng, 12)).collect()
        };
        let b: Vec<Vec<bool>> = {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            (0..50).map(|_| s.draw(&mut rng, 12)).collect()
        };
        let c: Vec<Vec<bool>> = {
            let mut rng = ChaCha20Rng::seed_from_u64(8);
            (0..50).map(|_| s.draw(&mut rng, 12)).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Each decision consumes exactly one uniform: u < p_l, in layer order.
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let d = s.draw(&mut rng, 12);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let probs = s.probs(12);
        let expect: Vec<bool> = probs.iter().map(|&p| rng.random::<f64>() < p).collect();
        assert_eq!(d, expect);
    }

    #[test]
    fn observed_frequency_approaches_p() {
        let sched = Schedule::Uniform {
            p: 0.3,
            exempt_first_last: true,
        };
        let mut skip = SkipRetain::new(sched.clone(), ChaCha20Rng::seed_from_u64(11));
        let n = 6;
        let steps = 20_000;
        let mut per_layer = vec![0u32; n];
        for _ in 0..steps {
            for (l, s) in skip.draw(n).into_iter().enumerate() {
                per_layer[l] += s as u32;
            }
        }
        assert_eq!(per_layer[0], 0);
        assert_eq!(per_layer[n - 1], 0);
        for &c in &per_layer[1..n - 1] {
            let f = c as f64 / steps as f64;
            // 5 standard errors: sqrt(0.3·0.7/20000) ≈ 0.0032.
            assert!((f - 0.3).abs() < 0.016, "frequency {f}");
        }
        let expected = sched.expected_fraction(n);
        assert!((skip.observed_fraction() - expected).abs() < 0.01);
        assert_eq!(skip.drawn, (steps * n) as u64);
    }

    #[test]
    fn schedule_deserialises_from_yaml() {
        let f: Schedule = serde_yaml::from_str("kind: functional").unwrap();
        assert_eq!(f, Schedule::Functional);
        let u: Schedule = serde_yaml::from_str("{kind: uniform, p: 0.25}").unwrap();
        assert_eq!(
            u,
            Schedule::Uniform {
                p: 0.25,
                exempt_first_last: false
            }
        );
    }
}
