//! The multi-bootstrap (Sellam et al. 2021, "The MultiBERTs", §3): seeds and evaluation
//! examples resampled jointly, so that an interval covers what another set of seeds *and*
//! another evaluation set drawn from the same distribution would give, not only other seeds on
//! this one evaluation set.
//!
//! Input: for each arm (baseline, variant) the per-example predictions of every seed on the
//! same evaluation set, and its gold labels. Each replicate draws n example indices with
//! replacement, the same indices for both arms (paired on examples), and, independently per
//! arm, as many seeds as the arm has, with replacement (seeds are not paired: each arm's runs
//! are its own). A seed's score on the replicate is the metric recomputed on the drawn examples
//! (`metric(predicted, gold)` over the gathered slices), so accuracy, F1, MCC or a correlation
//! are all handled the same way. Statistics per replicate: the difference of the arms' mean
//! scores (variant − baseline) and the ratio of their standard deviations (ddof = 1) across the
//! drawn seeds, σ_variant / σ_baseline. Percentile intervals as `bootstrap.rs` (0/0 ratios
//! left out, x/0 = +∞ kept).
//!
//! The seeds-only interval uses the same seed draws with every seed's score on the full
//! evaluation set, as `bootstrap.rs` does with the final values.
//!
//! Variance split (per arm): the across-seed variance of the scores (ddof = 1) against the
//! evaluation-set variance, the mean over seeds of the variance each seed's score has under
//! example resampling alone (for accuracy the ideal bootstrap gives p_s(1 − p_s)/n). That is
//! what the same predictions would vary by were the evaluation set drawn again; the rest of the
//! across-seed variance is attributed to the seeds.

use super::bootstrap::{percentile_interval, Bootstrap, Interval};
use super::summary::{mean, std_dev};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Why a multi-bootstrap cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultiBootstrapError {
    #[error("the {arm} has {seeds} seed(s) with predictions; the multi-bootstrap needs at least 2 per arm")]
    TooFewSeeds { arm: &'static str, seeds: usize },
    #[error("the evaluation set has no examples")]
    NoExamples,
    #[error("a seed of the {arm} has {got} predictions for {expected} gold labels; both arms must be evaluated on the same examples")]
    Length {
        arm: &'static str,
        got: usize,
        expected: usize,
    },
}

/// How the across-seed variance of one arm's scores splits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VarianceSplit {
    /// Seeds with predictions.
    pub seeds: usize,
    /// Examples of the evaluation set.
    pub examples: usize,
    /// Variance of the seeds' scores on the full evaluation set (ddof = 1).
    pub across_seeds: f64,
    /// Mean over seeds of each score's variance under example resampling alone.
    pub evaluation_set: f64,
}

impl VarianceSplit {
    /// evaluation_set / across_seeds (may exceed 1: the seeds vary less than the evaluation set
    /// alone would make them); `None` when the seeds do not vary at all.
    pub fn evaluation_share(&self) -> Option<f64> {
        (self.across_seeds > 0.0).then(|| self.evaluation_set / self.across_seeds)
    }

    /// What is left for the seeds: across_seeds − evaluation_set, at least 0.
    pub fn seed_part(&self) -> f64 {
        (self.across_seeds - self.evaluation_set).max(0.0)
    }
}

/// Intervals of the two statistics under one resampling scheme.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Intervals {
    /// mean_variant − mean_baseline.
    pub mean_difference: Option<Interval>,
    /// σ_variant / σ_baseline.
    pub std_ratio: Option<Interval>,
}

/// The multi-bootstrap of a variant against the baseline on one evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultiBootstrap {
    /// Scores of every seed on the full evaluation set, per arm.
    pub baseline_scores: Vec<f64>,
    pub variant_scores: Vec<f64>,
    /// Point estimates on the full data.
    pub mean_difference: f64,
    pub std_ratio: f64,
    /// Seeds resampled, the evaluation set fixed.
    pub seeds_only: Intervals,
    /// Seeds and examples resampled jointly (examples paired across the arms).
    pub seeds_and_examples: Intervals,
    pub baseline_split: VarianceSplit,
    pub variant_split: VarianceSplit,
    pub replicates: usize,
}

fn check<T>(gold: &[T], arm: &'static str, seeds: &[&[T]]) -> Result<(), MultiBootstrapError> {
    if seeds.len() < 2 {
        return Err(MultiBootstrapError::TooFewSeeds {
            arm,
            seeds: seeds.len(),
        });
    }
    match seeds.iter().find(|s| s.len() != gold.len()) {
        Some(s) => Err(MultiBootstrapError::Length {
            arm,
            got: s.len(),
            expected: gold.len(),
        }),
        None => Ok(()),
    }
}

/// Standard deviation (ddof = 1), exactly 0 when every value is the same: seeds with the same
/// score (frequent for accuracy on a small set) must not give a ratio of rounding errors.
fn spread(values: &[f64]) -> f64 {
    match values.split_first() {
        Some((first, rest)) if rest.iter().all(|v| v == first) && !rest.is_empty() => 0.0,
        _ => std_dev(values),
    }
}

/// Reusable buffers for the gathered examples of one replicate.
struct Gather<T> {
    predicted: Vec<T>,
    gold: Vec<T>,
}

impl<T: Copy> Gather<T> {
    fn score<M: Fn(&[T], &[T]) -> f64>(
        &mut self,
        predicted: &[T],
        gold: &[T],
        idx: &[usize],
        metric: &M,
    ) -> f64 {
        self.predicted.clear();
        self.gold.clear();
        self.predicted.extend(idx.iter().map(|&i| predicted[i]));
        self.gold.extend(idx.iter().map(|&i| gold[i]));
        metric(&self.predicted, &self.gold)
    }
}

/// Scores of one replicate for every seed of an arm, and the running per-seed sums of the
/// example-resampled scores (for the evaluation-set variance).
struct ArmState {
    full: Vec<f64>,
    replicate: Vec<f64>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    drawn_joint: Vec<f64>,
    drawn_seeds: Vec<f64>,
}

impl ArmState {
    fn new(full: Vec<f64>) -> ArmState {
        let k = full.len();
        ArmState {
            full,
            replicate: vec![0.0; k],
            sum: vec![0.0; k],
            sum_sq: vec![0.0; k],
            drawn_joint: Vec::with_capacity(k),
            drawn_seeds: Vec::with_capacity(k),
        }
    }

    /// Draws k seeds with replacement; fills the joint and seeds-only samples.
    fn draw_seeds(&mut self, rng: &mut ChaCha8Rng) {
        let k = self.full.len();
        self.drawn_joint.clear();
        self.drawn_seeds.clear();
        for _ in 0..k {
            let s = rng.random_range(0..k);
            self.drawn_joint.push(self.replicate[s]);
            self.drawn_seeds.push(self.full[s]);
        }
    }

    fn split(&self, examples: usize, replicates: usize) -> VarianceSplit {
        let b = replicates as f64;
        // Per seed: the variance of its replicate scores (ddof = 1), then the mean over seeds.
        let per_seed: Vec<f64> = self
            .sum
            .iter()
            .zip(&self.sum_sq)
            .map(|(&s, &sq)| ((sq - s * s / b) / (b - 1.0)).max(0.0))
            .collect();
        VarianceSplit {
            seeds: self.full.len(),
            examples,
            across_seeds: spread(&self.full).powi(2),
            evaluation_set: mean(&per_seed),
        }
    }
}

/// The multi-bootstrap of `variant` against `baseline` (each: one prediction slice per seed,
/// aligned with `gold`), with `metric(predicted, gold)` as the score of a seed on a set of
/// examples. `settings` gives the number of replicates (at least 2), the level and the seed.
pub fn multibootstrap<T: Copy, M: Fn(&[T], &[T]) -> f64>(
    gold: &[T],
    baseline: &[&[T]],
    variant: &[&[T]],
    metric: M,
    settings: &Bootstrap,
) -> Result<MultiBootstrap, MultiBootstrapError> {
    if gold.is_empty() {
        return Err(MultiBootstrapError::NoExamples);
    }
    check(gold, "baseline", baseline)?;
    check(gold, "variant", variant)?;
    let n = gold.len();
    let replicates = settings.resamples.max(2);
    let full = |seeds: &[&[T]]| -> Vec<f64> { seeds.iter().map(|p| metric(p, gold)).collect() };
    let mut arms = [ArmState::new(full(baseline)), ArmState::new(full(variant))];
    let preds = [baseline, variant];
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut gather = Gather {
        predicted: Vec::with_capacity(n),
        gold: Vec::with_capacity(n),
    };
    let mut idx = vec![0usize; n];
    let mut joint_diff = Vec::with_capacity(replicates);
    let mut joint_ratio = Vec::with_capacity(replicates);
    let mut seeds_diff = Vec::with_capacity(replicates);
    let mut seeds_ratio = Vec::with_capacity(replicates);
    for _ in 0..replicates {
        for i in idx.iter_mut() {
            *i = rng.random_range(0..n);
        }
        for (arm, seeds) in arms.iter_mut().zip(preds) {
            for (s, p) in seeds.iter().enumerate() {
                let score = gather.score(p, gold, &idx, &metric);
                arm.replicate[s] = score;
                arm.sum[s] += score;
                arm.sum_sq[s] += score * score;
            }
            arm.draw_seeds(&mut rng);
        }
        let [b, v] = &arms;
        joint_diff.push(mean(&v.drawn_joint) - mean(&b.drawn_joint));
        joint_ratio.push(spread(&v.drawn_joint) / spread(&b.drawn_joint));
        seeds_diff.push(mean(&v.drawn_seeds) - mean(&b.drawn_seeds));
        seeds_ratio.push(spread(&v.drawn_seeds) / spread(&b.drawn_seeds));
    }
    let level = settings.level;
    let [b, v] = arms;
    Ok(MultiBootstrap {
        mean_difference: mean(&v.full) - mean(&b.full),
        std_ratio: spread(&v.full) / spread(&b.full),
        seeds_only: Intervals {
            mean_difference: percentile_interval(seeds_diff, level),
            std_ratio: percentile_interval(seeds_ratio, level),
        },
        seeds_and_examples: Intervals {
            mean_difference: percentile_interval(joint_diff, level),
            std_ratio: percentile_interval(joint_ratio, level),
        },
        baseline_split: b.split(n, replicates),
        variant_split: v.split(n, replicates),
        baseline_scores: b.full,
        variant_scores: v.full,
        replicates,
    })
}

/// The seeds-and-examples interval of σ_variant / σ_baseline alone (see [`multibootstrap`]).
pub fn sigma_ratio_interval<T: Copy, M: Fn(&[T], &[T]) -> f64>(
    gold: &[T],
    baseline: &[&[T]],
    variant: &[&[T]],
    metric: M,
    settings: &Bootstrap,
) -> Result<Option<Interval>, MultiBootstrapError> {
    multibootstrap(gold, baseline, variant, metric, settings)
        .map(|m| m.seeds_and_examples.std_ratio)
}

/// The seeds-and-examples interval of mean_variant − mean_baseline alone.
pub fn mean_difference_interval<T: Copy, M: Fn(&[T], &[T]) -> f64>(
    gold: &[T],
    baseline: &[&[T]],
    variant: &[&[T]],
    metric: M,
    settings: &Bootstrap,
) -> Result<Option<Interval>, MultiBootstrapError> {
    multibootstrap(gold, baseline, variant, metric, settings)
        .map(|m| m.seeds_and_examples.mean_difference)
}

#[cfg(test)]
mod tests;
