//! Language-model training of Transformer-XL with two phases in one run (METHODS §1–§5).
//!
//! Data (as the Transformer-XL code): the training token stream is cut into B parallel streams
//! of ⌊n / B⌋ tokens (the tail is dropped in training only), read in segments of `tgt_len`
//! tokens (the last segment of an epoch is shorter); memory is carried from segment to segment
//! and emptied at the start of every epoch. Step s reads segment s mod S of epoch ⌊s / S⌋, so
//! the data position is a function of the step.
//!
//! Phases (METHODS §4): steps 0 … P−1 are phase 1, with skip-retain (and cross-head attention
//! when the variant has it); the rest are phase 2, without skipping (cross-head still on when
//! the variant has it). One AdamW optimizer and one learning-rate schedule span both phases.
//! Every metric row carries its phase (1 or 2); the skipped layers of every step are observed
//! on the memory (a layer that ran wrote its memory in that step) and recorded as
//! `train/skipped_layers`.
//!
//! Randomness: parameter initialisation from `libtorch_seed(seed)`; dropout of step s from a
//! libtorch generator re-seeded with [`step_seed`] before the step (so a resumed run draws the
//! same masks); skip decisions and cross-head permutations from the run's `skip` and
//! `cross_head` streams, whose positions are checkpointed.
//!
//! Evaluation ([`evaluate`]): every token of a split except the first is predicted exactly once,
//! with no dropped tail: the n − 1 predictions are cut into B contiguous streams of ⌈(n−1)/B⌉
//! (the last ones shorter, padded at their end and masked out), read in segments of
//! `eval_tgt_len` with a memory of `eval_mem_len`. Character-level corpora report bits per
//! character (mean nats / ln 2), word-level ones perplexity (exp of mean nats).

mod phases;
mod state;

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result};
use rand_chacha::rand_core::RngCore;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::checkpoint::CheckpointOwner;
use super::schedule::{cosine_warmup, linear_warmup_decay};
use super::Ending;
use crate::data::lm::{Corpus, Level};
use crate::model::transformer_xl::{Draws, Memory, TransformerXl, TxlConfig};
use crate::precision::Precision;
use crate::seed::{self, Purpose};
use crate::spec::types::LrSchedule;
use crate::spec::{RunConfig, VariantSettings};
use crate::store::{MetricRow, ResultRow};

/// Evaluation settings of the original code's evaluation script.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSettings {
    pub tgt_len: usize,
    pub mem_len: usize,
    pub clamp_len: Option<usize>,
    pub same_length: bool,
    /// Parallel streams.
    pub batch_size: usize,
}

/// Where and how often a run writes checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPlan {
    /// The run's folder ([`super::checkpoint::run_dir`]).
    pub dir: PathBuf,
    /// Steps between rolling checkpoints; none = only at the end of phase 1 and on interrupt.
    pub every: Option<usize>,
}

/// Everything about one language-model run that is not the data.
#[derive(Debug, Clone)]
pub struct LmSettings {
    pub seed: u64,
    /// The model; `n_token` is set from the corpus.
    pub model: TxlConfig,
    pub eval: EvalSettings,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_ratio: f64,
    pub schedule: LrSchedule,
    pub grad_clip: Option<f64>,
    pub epochs: usize,
    pub max_steps: Option<usize>,
    pub eval_every: Option<usize>,
    /// Periodic evaluations read only the first N validation tokens.
    pub eval_max_tokens: Option<usize>,
    pub variant: VariantSettings,
    pub checkpoints: Option<CheckpointPlan>,
    pub init_from: Option<PathBuf>,
    /// `train.precision` as the spec asks it; resolved against the device when training starts.
    pub precision: Option<Precision>,
}

impl LmSettings {
    /// Settings of a resolved `transformer_xl` run; `checkpoints` is the run's folder when the
    /// spec asks for checkpoints (`train.checkpoint_every`).
    pub fn from_run(c: &RunConfig, checkpoint_dir: Option<PathBuf>) -> Result<LmSettings> {
        let m = c.model.as_txl().with_context(|| {
            format!(
                "model: a language-modelling run needs model.kind `transformer_xl`, not `{}`",
                c.model.kind().as_str()
            )
        })?;
        let model = m.config(0);
        let t = &c.train;
        Ok(LmSettings {
            seed: c.seed,
            eval: EvalSettings {
                tgt_len: m.eval_tgt_len.unwrap_or(model.tgt_len),
                mem_len: m.eval_mem_len.unwrap_or(model.mem_len),
                clamp_len: m.eval_clamp_len.or(model.clamp_len),
                same_length: m.eval_same_length.unwrap_or(model.same_length),
                batch_size: t.eval_batch_size.unwrap_or(t.batch_size) as usize,
            },
            model,
            batch_size: t.batch_size as usize,
            lr: t.lr,
            weight_decay: t.weight_decay,
            warmup_ratio: t.warmup_ratio,
            schedule: t.lr_schedule.unwrap_or(LrSchedule::Cosine),
            grad_clip: t.grad_clip,
            epochs: t.epochs as usize,
            max_steps: t.max_steps.map(|n| n as usize),
            eval_every: t.eval_every.map(|n| n as usize),
            eval_max_tokens: t.eval_max_tokens.map(|n| n as usize),
            variant: c.variant_settings.clone(),
            checkpoints: checkpoint_dir.map(|dir| CheckpointPlan {
                dir,
                every: t.checkpoint_every.map(|n| n as usize),
            }),
            init_from: t.init_from.clone(),
            precision: t.precision,
        })
    }

    fn learning_rate(&self, step: i64, total: i64) -> f64 {
        match self.schedule {
            LrSchedule::Cosine => cosine_warmup(self.lr, step, total, self.warmup_ratio),
            LrSchedule::Linear => linear_warmup_decay(self.lr, step, total, self.warmup_ratio),
        }
    }
}

/// What the loop tells its caller while it runs.
pub trait LmObserver {
    /// Once, before the first step: training starts at `step` (0, or a checkpoint's step);
    /// metric rows after `step` from an earlier attempt must go.
    fn on_start(&mut self, step: i64, total: i64) -> Result<()>;
    /// After every optimizer step.
    fn on_step(&mut self, step: i64, total: i64, loss: f64, phase: i64);
    /// Metric rows to store; `flush` = write them now (before a checkpoint, at evaluations).
    fn on_metrics(&mut self, rows: Vec<MetricRow>, flush: bool) -> Result<()>;
    /// Checked before every step: true once the user asked to stop.
    fn interrupted(&self) -> bool;
    /// The run and store this attempt belongs to: recorded in every checkpoint it writes, and
    /// the run's own checkpoint is resumed only if it belongs to the same run of the same store
    /// (same or earlier attempt). None: checkpoints are resumed unchecked and record no owner.
    fn checkpoint_owner(&self) -> Option<CheckpointOwner> {
        None
    }
    /// After a checkpoint file was written at `step` (the store records it, fenced).
    fn on_checkpoint(&mut self, _step: i64) -> Result<()> {
        Ok(())
    }
}

pub struct LmOutcome {
    pub ending: Ending,
    pub steps: i64,
    /// Final results (empty unless completed).
    pub results: Vec<ResultRow>,
    /// Training tokens per second over both phases (this attempt and the checkpointed ones).
    pub tokens_per_s: f64,
    /// The step this attempt started from (0, or a checkpoint's).
    pub resumed_from: i64,
    /// Peak device memory in use on CUDA (see [`cuda_memory_in_use`]); none on CPU.
    pub peak_device_bytes: Option<i64>,
}

/// Training token stream as B parallel streams: `[⌊n/B⌋, B]` (the tail dropped), as
/// `LMOrderedIterator` of the Transformer-XL code.
pub fn batchify(tokens: &[u32], batch: usize) -> Tensor {
    let n_step = tokens.len() / batch.max(1);
    let ids: Vec<i64> = tokens[..n_step * batch].iter().map(|&t| t as i64).collect();
    Tensor::from_slice(&ids)
        .view([batch as i64, n_step as i64])
        .transpose(0, 1)
        .contiguous()
}

/// Segments per epoch of a stream of `n_step` rows: ⌈(n_step − 1) / tgt_len⌉.
pub fn segments_per_epoch(n_step: usize, tgt_len: usize) -> usize {
    n_step.saturating_sub(1).div_ceil(tgt_len.max(1))
}

/// Where step `step` reads: (epoch, first row, rows).
pub fn segment_of(step: usize, n_step: usize, tgt_len: usize) -> (usize, usize, usize) {
    let spe = segments_per_epoch(n_step, tgt_len).max(1);
    let start = (step % spe) * tgt_len;
    (step / spe, start, tgt_len.min(n_step - 1 - start))
}

/// The libtorch seed of the dropout masks of step `step`: words 2(s+1), 2(s+1)+1 of the run's
/// dropout stream (word 0–1 seeds the initialisation, see [`seed::libtorch_seed`]), shifted
/// right by one bit.
pub fn step_seed(run_seed: u64, step: i64) -> i64 {
    let mut rng = seed::stream(run_seed, Purpose::Dropout);
    rng.set_word_pos(2 * (step as u128 + 1));
    (rng.next_u64() >> 1) as i64
}

/// No weight decay on biases, LayerNorm and the attention biases u, v.
pub fn no_decay(name: &str) -> bool {
    name.ends_with("bias") || name.contains("layer_norm")
}

/// Sum of nats and number of predicted tokens of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalTotals {
    pub nats: f64,
    pub tokens: i64,
}

impl EvalTotals {
    pub fn loss(&self) -> f64 {
        self.nats / self.tokens.max(1) as f64
    }

    /// (`bpc`, mean nats / ln 2) at character level, (`ppl`, exp of mean nats) at word level.
    pub fn score(&self, level: Level) -> (&'static str, f64) {
        match level {
            Level::Char => ("bpc", self.loss() / std::f64::consts::LN_2),
            Level::Word => ("ppl", self.loss().exp()),
        }
    }
}

/// Negative log-likelihood of every token of `tokens` but the first (see the module
/// documentation), with the evaluation settings; dropout off, no skipping, no cross-head.
/// `stop` is asked before every segment: `None` when it said yes (an interrupt), so that a
/// long evaluation never holds up a stop by more than one batch.
pub fn evaluate(
    model: &mut TransformerXl,
    tokens: &[u32],
    eval: &EvalSettings,
    device: Device,
    stop: &dyn Fn() -> bool,
) -> Result<Option<EvalTotals>> {
    let predictions = tokens.len().saturating_sub(1);
    if predictions == 0 {
        return Ok(Some(EvalTotals {
            nats: 0.0,
            tokens: 0,
        }));
    }
    let b = eval.batch_size.clamp(1, predictions);
    let len = predictions.div_ceil(b);
    let mut inp = vec![0i64; len * b];
    let mut tgt = vec![0i64; len * b];
    let mut mask = vec![0f32; len * b];
    for col in 0..b {
        let first = col * len;
        let n = len.min(predictions.saturating_sub(first));
        for k in 0..n {
            inp[k * b + col] = tokens[first + k] as i64;
            tgt[k * b + col] = tokens[first + k + 1] as i64;
            mask[k * b + col] = 1.0;
        }
    }
    let shape = [len as i64, b as i64];
    let inp = Tensor::from_slice(&inp).view(shape).to_device(device);
    let tgt = Tensor::from_slice(&tgt).view(shape).to_device(device);
    let mask = Tensor::from_slice(&mask).view(shape).to_device(device);

    let (clamp, same) = (model.config().clamp_len, model.config().same_length);
    model.set_clamp_len(eval.clamp_len);
    model.set_same_length(eval.same_length);
    let mut mem = Memory::new(model.config().n_layer, eval.mem_len, 0);
    let result = tch::no_grad(|| -> Result<Option<f64>> {
        let mut total = Tensor::zeros([], (Kind::Double, device));
        let mut t0 = 0;
        while t0 < len {
            if stop() {
                return Ok(None);
            }
            let t = eval.tgt_len.min(len - t0) as i64;
            let x = inp.narrow(0, t0 as i64, t);
            let y = tgt.narrow(0, t0 as i64, t);
            let nll = model.forward(&x, &y, &mut mem, false, &mut Draws::default())?;
            let m = mask.narrow(0, t0 as i64, t);
            total += (nll * m).to_kind(Kind::Double).sum(Kind::Double);
            t0 += t as usize;
        }
        Ok(Some(f64::try_from(total)?))
    });
    model.set_clamp_len(clamp);
    model.set_same_length(same);
    Ok(result?.map(|nats| EvalTotals {
        nats,
        tokens: predictions as i64,
    }))
}

/// Per-phase accounting (index 0 = phase 1), carried through checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    pub steps: [i64; 2],
    pub seconds: [f64; 2],
    pub tokens: [i64; 2],
    /// Layers observed skipped (summed over steps).
    pub skipped_layers: [u64; 2],
}

pub use state::LmCheckpointMeta;

/// Trains a fresh Transformer-XL on `corpus` in two phases (or resumes it from its checkpoint)
/// and evaluates it on the full validation and test splits.
pub fn train(
    s: &LmSettings,
    corpus: &Corpus,
    device: Device,
    observer: &mut dyn LmObserver,
) -> Result<LmOutcome> {
    let (setup, mut training) = phases::set_up(s, corpus, device, observer)?;
    if let ControlFlow::Break(outcome) = phases::step_loop(&setup, &mut training, observer)? {
        return Ok(outcome);
    }
    let results = match phases::final_evaluation(&setup, &mut training, observer)? {
        ControlFlow::Continue(results) => results,
        ControlFlow::Break(outcome) => return Ok(outcome),
    };
    phases::finish(&setup, training, results)
}

fn tokens_per_s(stats: &PhaseStats) -> f64 {
    let secs = stats.seconds[0] + stats.seconds[1];
    (stats.tokens[0] + stats.tokens[1]) as f64 / secs.max(1e-12)
}

/// Memory in use on the current CUDA device, `total − free` of `cudaMemGetInfo` (the CUDA
/// context, the caching allocator's reserve and any other process included): libtorch's
/// `max_memory_allocated` is not reachable through tch. `None` without CUDA.
pub fn cuda_memory_in_use() -> Option<i64> {
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    static FUNCTION: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let f = FUNCTION.get_or_init(|| {
        // SAFETY: dlsym/dlopen with NUL-terminated names; the handle is never closed.
        unsafe {
            let name = c"cudaMemGetInfo";
            let mut sym = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr());
            if sym.is_null() {
                for lib in [c"libcudart.so.13", c"libcudart.so.12", c"libcudart.so"] {
                    let h = libc::dlopen(lib.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
                    if !h.is_null() {
                        sym = libc::dlsym(h, name.as_ptr());
                        if !sym.is_null() {
                            break;
                        }
                    }
                }
            }
            (!sym.is_null()).then_some(sym as usize)
        }
    });
    let f = (*f)?;
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: `f` is cudaMemGetInfo(size_t*, size_t*) -> cudaError_t.
    let rc = unsafe {
        let f: MemGetInfo = std::mem::transmute(f);
        f(&mut free, &mut total)
    };
    (rc == 0).then(|| (total - free) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::lm_fixture::{corpus, settings, skip_cross_head, Recorder};
    use tch::nn::VarStore;

    fn result(o: &LmOutcome, split: &str, name: &str) -> f64 {
        o.results
            .iter()
            .find(|r| r.split == split && r.name == name)
            .unwrap_or_else(|| panic!("no {split}/{name}"))
            .value
    }

    fn series<'a>(rows: &'a [MetricRow], split: &str, name: &str) -> Vec<&'a MetricRow> {
        let mut v: Vec<&MetricRow> = rows
            .iter()
            .filter(|r| r.split == split && r.name == name)
            .collect();
        v.sort_by_key(|r| r.step);
        v
    }

    #[test]
    fn phases_are_recorded_and_only_phase_one_skips() {
        let s = settings(skip_cross_head(5), 12);
        let mut rec = Recorder::default();
        let out = train(&s, &corpus(Level::Char), Device::Cpu, &mut rec).unwrap();
        assert_eq!(out.ending, Ending::Completed);
        let loss = series(&rec.rows, "train", "loss");
        assert_eq!(
            loss.iter().map(|r| r.step).collect::<Vec<_>>(),
            (1..=12).collect::<Vec<_>>()
        );
        let phases: Vec<i64> = loss.iter().map(|r| r.phase.unwrap()).collect();
        assert_eq!(phases, [vec![1; 5], vec![2; 7]].concat());
        assert!(rec.rows.iter().all(|r| r.phase.is_some()));
        // Skips observed on the memory: some in phase 1 (p = 0.5 on 4 layers over 5 steps),
        // none in phase 2.
        let skipped = series(&rec.rows, "train", "skipped_layers");
        let p1: f64 = skipped
            .iter()
            .filter(|r| r.phase == Some(1))
            .map(|r| r.value)
            .sum();
        let p2: f64 = skipped
            .iter()
            .filter(|r| r.phase == Some(2))
            .map(|r| r.value)
            .sum();
        assert!(p1 > 0.0, "{skipped:?}");
        assert_eq!(p2, 0.0);
        assert_eq!(result(&out, "train", "skip_fraction_observed_phase2"), 0.0);
        assert_eq!(result(&out, "train", "skip_fraction_observed"), p1 / 20.0);
        assert_eq!(result(&out, "train", "skip_fraction_expected"), 0.5);
        // Periodic evaluations at steps 3, 6, 9 carry the phase of their step.
        let valid: Vec<(i64, Option<i64>)> = series(&rec.rows, "valid", "bpc")
            .iter()
            .map(|r| (r.step, r.phase))
            .collect();
        assert_eq!(
            valid,
            vec![(3, Some(1)), (6, Some(2)), (9, Some(2)), (12, Some(2))]
        );
        for name in [
            "ms_per_step_phase1",
            "ms_per_step_phase2",
            "tokens_per_s_phase1",
            "tokens_per_s_phase2",
            "params_total",
            "params_non_embedding",
        ] {
            assert!(result(&out, "train", name) > 0.0, "{name}");
        }
        assert!(
            result(&out, "train", "params_total") > result(&out, "train", "params_non_embedding")
        );
    }

    #[test]
    fn the_validation_curve_reads_one_prefix_and_ends_at_the_last_step() {
        let c = corpus(Level::Char);
        let last = |rec: &Recorder| {
            series(&rec.rows, "valid", "bpc")
                .last()
                .map(|r| (*r).clone())
                .unwrap()
        };
        // A prefix of 100 tokens: every point of the curve, the last one included, reads it;
        // the final result reads the whole split, so the two differ.
        let s = settings(VariantSettings::of(&Default::default()), 6);
        assert!(c.valid.len() > 100);
        let mut rec = Recorder::default();
        let out = train(&s, &c, Device::Cpu, &mut rec).unwrap();
        let point = last(&rec);
        assert_eq!(point.step, 6);
        assert_ne!(point.value, result(&out, "valid", "bpc"));
        // Test-split values and token counts are results, never curve points.
        assert!(rec
            .rows
            .iter()
            .all(|r| r.split != "test" && r.name != "tokens"));
        // Without a prefix the last point is the final evaluation itself (one pass, not two).
        let s = LmSettings {
            eval_max_tokens: None,
            ..settings(VariantSettings::of(&Default::default()), 6)
        };
        let mut rec = Recorder::default();
        let out = train(&s, &c, Device::Cpu, &mut rec).unwrap();
        let points: Vec<i64> = series(&rec.rows, "valid", "bpc")
            .iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(points, [3, 6]);
        assert_eq!(last(&rec).value, result(&out, "valid", "bpc"));
    }

    #[test]
    fn baseline_never_skips_and_has_one_phase() {
        let s = settings(VariantSettings::of(&Default::default()), 4);
        let mut rec = Recorder::default();
        let out = train(&s, &corpus(Level::Char), Device::Cpu, &mut rec).unwrap();
        assert!(rec.rows.iter().all(|r| r.phase == Some(2)));
        assert!(series(&rec.rows, "train", "skipped_layers")
            .iter()
            .all(|r| r.value == 0.0));
        assert!(out.results.iter().all(|r| !r.name.ends_with("phase1")));
        assert_eq!(result(&out, "train", "skip_fraction_expected"), 0.0);
    }

    #[test]
    fn evaluation_predicts_every_token_but_the_first_once() {
        let c = corpus(Level::Word);
        let cfg = TxlConfig {
            n_token: c.vocab.symbols.len(),
            ..settings(VariantSettings::of(&Default::default()), 1).model
        };
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let mut model = TransformerXl::new(&vs.root(), &cfg).unwrap();
        // Without memory and with one-token segments every prediction sees only its own input
        // token, so the total cannot depend on how the split is cut into streams: padding and
        // masking must neither drop nor add a prediction.
        let bigram = |b: usize, tokens: &[u32], model: &mut TransformerXl| {
            let e = EvalSettings {
                tgt_len: 1,
                mem_len: 0,
                clamp_len: None,
                same_length: false,
                batch_size: b,
            };
            evaluate(model, tokens, &e, Device::Cpu, &|| false)
                .unwrap()
                .unwrap()
        };
        for n in [2usize, 3, 10, 97, 301] {
            let tokens = &c.valid[..n];
            let reference = bigram(1, tokens, &mut model);
            assert_eq!(reference.tokens, n as i64 - 1);
            for b in [2usize, 3, 7, 64, 1000] {
                let e = bigram(b, tokens, &mut model);
                assert_eq!(e.tokens, n as i64 - 1, "n {n} b {b}");
                assert!(
                    (e.nats - reference.nats).abs() < 1e-6 * reference.nats.max(1.0),
                    "n {n} b {b}: {} vs {}",
                    e.nats,
                    reference.nats
                );
            }
        }
        // The same by hand: Σ_i −log p(x_{i+1} | x_i) from the full log-distribution.
        let tokens = &c.valid[..40];
        let by_hand: f64 = tch::no_grad(|| {
            // 40 independent one-token streams: [1, 40].
            let x = Tensor::from_slice(&tokens.iter().map(|&t| t as i64).collect::<Vec<_>>())
                .view([1, -1]);
            let mut mem = Memory::new(cfg.n_layer, 0, 0);
            let h = model
                .hidden(&x, &mut mem, false, &mut Draws::default())
                .unwrap();
            let lp = model.log_probs(&h.view([-1, cfg.d_model as i64]));
            (0..39)
                .map(|i| -f64::try_from(lp.get(i).get(tokens[i as usize + 1] as i64)).unwrap())
                .sum()
        });
        let e = bigram(4, tokens, &mut model);
        assert!((e.nats - by_hand).abs() < 1e-4, "{} vs {by_hand}", e.nats);
        // Scores: bpc = mean nats / ln 2, ppl = exp(mean nats).
        assert!((e.score(Level::Char).1 - e.loss() / std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!(e.score(Level::Word).0, "ppl");
    }

    #[test]
    fn segments_cover_the_stream_and_wrap_per_epoch() {
        // 21 rows, tgt_len 8: segments of 8, 8, 4 (the last target is row 20).
        assert_eq!(segments_per_epoch(21, 8), 3);
        assert_eq!(segment_of(0, 21, 8), (0, 0, 8));
        assert_eq!(segment_of(2, 21, 8), (0, 16, 4));
        assert_eq!(segment_of(3, 21, 8), (1, 0, 8));
        let b = batchify(&(0..10).collect::<Vec<u32>>(), 3);
        assert_eq!(b.size(), vec![3, 3]);
        // Column j is the j-th contiguous third of the stream.
        assert_eq!(Vec::<i64>::try_from(b.select(1, 1)).unwrap(), vec![3, 4, 5]);
        assert_ne!(step_seed(1, 0), step_seed(1, 1));
        assert_ne!(step_seed(1, 0), seed::libtorch_seed(1));
    }
}
