//! The phases of one language-model run ([`super::train`]): setting up (or resuming) the model,
//! the step loop with its periodic evaluations and checkpoints, the final evaluation on the
//! full splits, and the results of a completed run.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tch::{nn::VarStore, Device, Kind, Tensor};

use super::state::{load_checkpoint, save_checkpoint, State};
use super::{
    batchify, cuda_memory_in_use, evaluate, no_decay, segment_of, segments_per_epoch, step_seed,
    tokens_per_s, LmObserver, LmOutcome, LmSettings, PhaseStats,
};
use crate::data::lm::Corpus;
use crate::model::cross_head::CrossHead;
use crate::model::rel_attention::HeadPermutations;
use crate::model::skip::{Schedule, SkipDraws, SkipRetain};
use crate::model::transformer_xl::{Draws, Memory, TransformerXl, TxlConfig};
use crate::precision::Precision;
use crate::seed::{self, Purpose};
use crate::store::{MetricRow, ResultRow};
use crate::train::checkpoint::{self, CheckpointOwner};
use crate::train::optim::AdamW;
use crate::train::Ending;

/// What the phases of a run read and never change: the settings, the batched training data,
/// the step counts and the validation prefix of the periodic evaluations.
pub(super) struct Setup<'a> {
    s: &'a LmSettings,
    corpus: &'a Corpus,
    device: Device,
    cfg: TxlConfig,
    data: Tensor,
    n_step: usize,
    total: i64,
    phase1_steps: i64,
    n_layer: usize,
    owner: Option<CheckpointOwner>,
    resumed_from: i64,
    valid_prefix: &'a [u32],
    prefix_is_whole: bool,
}

/// What the phases change: the model, its optimizer and the state a checkpoint restores.
pub(super) struct Training {
    vs: VarStore,
    model: TransformerXl,
    opt: AdamW,
    st: State,
    peak_device: Option<i64>,
}

impl Setup<'_> {
    /// Writes the checkpoint `name` of this state into the run's folder; nothing when the run
    /// writes no checkpoints.
    fn write(&self, name: &str, st: &State, vs: &VarStore, opt: &AdamW) -> Result<()> {
        let Setup {
            s,
            ref cfg,
            n_step,
            phase1_steps,
            ref owner,
            ..
        } = *self;
        if let Some(plan) = &s.checkpoints {
            save_checkpoint(
                &plan.dir.join(name),
                vs,
                opt,
                st,
                phase1_steps,
                n_step,
                cfg,
                owner.as_ref(),
            )?;
        }
        Ok(())
    }
}

/// Builds the model, resumes it from the run's own checkpoint (else from `init_from`) and tells
/// the observer the step training starts at.
pub(super) fn set_up<'a>(
    s: &'a LmSettings,
    corpus: &'a Corpus,
    device: Device,
    observer: &mut dyn LmObserver,
) -> Result<(Setup<'a>, Training)> {
    let cfg = TxlConfig {
        n_token: corpus.vocab.symbols.len(),
        ..s.model.clone()
    };
    tch::manual_seed(seed::libtorch_seed(s.seed));
    let mut vs = VarStore::new(device);
    let mut model = TransformerXl::new(&vs.root(), &cfg)
        .with_context(|| format!("building the model for {}", corpus.name))?;
    let precision = Precision::resolve(s.precision, device).0;
    precision.configure(device);
    model.set_precision(precision);
    let mut opt = AdamW::new(&vs, s.weight_decay, no_decay);

    if corpus.train.len() < 2 * s.batch_size {
        bail!(
            "{}: the training split has {} tokens, too few for {} streams of at least 2 tokens; lower train.batch_size",
            corpus.name,
            corpus.train.len(),
            s.batch_size
        );
    }
    let data = batchify(&corpus.train, s.batch_size).to_device(device);
    let n_step = data.size()[0] as usize;
    let spe = segments_per_epoch(n_step, cfg.tgt_len);
    let total = s.max_steps.unwrap_or(s.epochs * spe) as i64;
    let phase1_steps = s.variant.phase1_steps(total as u64) as i64;
    let n_layer = cfg.n_layer;

    let mut st = State {
        step: 0,
        skip: s
            .variant
            .skip
            .clone()
            .map(|sched| SkipRetain::new(sched, seed::stream(s.seed, Purpose::Skip))),
        cross_head: (s.variant.cross_head_prob > 0.0).then(|| {
            CrossHead::new(
                s.variant.cross_head_prob,
                seed::stream(s.seed, Purpose::CrossHead),
            )
        }),
        mem: model.new_memory(),
        stats: PhaseStats::default(),
        eval_pending: false,
    };

    // Resume: the run's own checkpoint first, else `init_from`.
    let own = s
        .checkpoints
        .as_ref()
        .map(|c| c.dir.join(checkpoint::LATEST));
    let owner = observer.checkpoint_owner();
    let mut resumed = None;
    if let Some(path) = own.filter(|p| p.is_file()) {
        let meta = load_checkpoint(
            &path,
            &mut vs,
            &mut opt,
            &mut st,
            &cfg,
            device,
            owner.as_ref(),
        )?;
        resumed = meta.map(|m| (path, m));
    }
    if resumed.is_none() {
        if let Some(path) = &s.init_from {
            let meta = load_checkpoint(path, &mut vs, &mut opt, &mut st, &cfg, device, None)?;
            // An evaluation another run still owed is that run's, not this one's.
            st.eval_pending = false;
            resumed = meta.map(|m| (path.clone(), m));
        }
    }
    if let Some((path, meta)) = &resumed {
        if meta.step > total {
            bail!(
                "{}: the checkpoint is at step {}, beyond this run's {} steps",
                path.display(),
                meta.step,
                total
            );
        }
    }
    let resumed_from = st.step;
    define_gradients(&vs);
    observer.on_start(resumed_from, total)?;
    let valid_prefix = match s.eval_max_tokens {
        Some(n) if n < corpus.valid.len() => &corpus.valid[..n],
        _ => &corpus.valid[..],
    };
    let prefix_is_whole = valid_prefix.len() == corpus.valid.len();
    let setup = Setup {
        s,
        corpus,
        device,
        cfg,
        data,
        n_step,
        total,
        phase1_steps,
        n_layer,
        owner,
        resumed_from,
        valid_prefix,
        prefix_is_whole,
    };
    let training = Training {
        vs,
        model,
        opt,
        st,
        peak_device: None,
    };
    Ok((setup, training))
}

/// The steps from where the run starts up to its last, with the periodic evaluations and
/// checkpoints. `Break`: the run stopped early (interrupted, or its loss diverged).
pub(super) fn step_loop(
    c: &Setup,
    t: &mut Training,
    observer: &mut dyn LmObserver,
) -> Result<ControlFlow<LmOutcome>> {
    let Setup {
        s,
        corpus,
        device,
        ref cfg,
        ref data,
        n_step,
        total,
        phase1_steps,
        resumed_from,
        valid_prefix,
        prefix_is_whole,
        ..
    } = *c;
    let Training {
        vs,
        model,
        opt,
        st,
        peak_device,
    } = t;
    let write = |name: &str, st: &State, vs: &VarStore, opt: &AdamW| c.write(name, st, vs, opt);
    while st.step < total || st.eval_pending {
        if observer.interrupted() {
            let save = || write(checkpoint::LATEST, st, vs, opt);
            return stopped(observer, s, save, st.step, resumed_from, *peak_device)
                .map(ControlFlow::Break);
        }
        if st.eval_pending {
            // The periodic evaluation of the step the last checkpoint was written at, which an
            // interrupt cut short: done now, before the next step, as it would have been.
            let phase = if st.step - 1 < phase1_steps { 1 } else { 2 };
            if let Some(e) = evaluate(model, valid_prefix, &s.eval, device, &|| {
                observer.interrupted()
            })? {
                let (name, value) = e.score(corpus.level);
                let rows = vec![
                    row(st.step, "valid", name, value, phase),
                    row(st.step, "valid", "loss", e.loss(), phase),
                ];
                st.eval_pending = false;
                observer.on_metrics(rows, true)?;
            }
            continue;
        }
        let step = st.step;
        let (_, start, rows) = segment_of(step as usize, n_step, cfg.tgt_len);
        if start == 0 && step > 0 {
            st.mem.reset();
        }
        let phase: i64 = if step < phase1_steps { 1 } else { 2 };
        let lr = s.learning_rate(step, total);

        let t0 = Instant::now();
        tch::manual_seed(step_seed(s.seed, step));
        let x = data.narrow(0, start as i64, rows as i64);
        let y = data.narrow(0, start as i64 + 1, rows as i64);
        opt.zero_grad();
        let mut permute = st.cross_head.as_mut().map(|c| move |n: usize| c.draw(n));
        let mut draws = Draws {
            skip: match (phase, st.skip.as_mut()) {
                (1, Some(sk)) => Some(sk as &mut dyn SkipDraws),
                _ => None,
            },
            cross_head: permute.as_mut().map(|f| f as &mut dyn HeadPermutations),
        };
        let nll = model.forward(&x, &y, &mut st.mem, true, &mut draws)?;
        let loss = nll.mean(Kind::Float);
        let loss_value = f64::try_from(&loss).unwrap_or(f64::NAN);
        if !loss_value.is_finite() {
            observer.on_metrics(
                vec![row(step + 1, "train", "loss", loss_value, phase)],
                true,
            )?;
            return Ok(ControlFlow::Break(LmOutcome {
                ending: Ending::Diverged {
                    step: step + 1,
                    loss: loss_value,
                },
                steps: step + 1,
                results: vec![],
                tokens_per_s: tokens_per_s(&st.stats),
                resumed_from,
                peak_device_bytes: *peak_device,
            }));
        }
        loss.backward();
        if let Some(max_norm) = s.grad_clip {
            opt.clip_grad_norm(max_norm);
        }
        opt.step(lr);
        if let Device::Cuda(_) = device {
            tch::Cuda::synchronize(match device {
                Device::Cuda(i) => i as i64,
                _ => 0,
            });
            if let Some(used) = cuda_memory_in_use() {
                *peak_device = Some(peak_device.map_or(used, |p| p.max(used)));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let skipped = observed_skips(&st.mem);
        let k = (phase - 1) as usize;
        st.stats.steps[k] += 1;
        st.stats.seconds[k] += seconds;
        st.stats.tokens[k] += (rows * s.batch_size) as i64;
        st.stats.skipped_layers[k] += skipped;
        st.step += 1;
        let step = st.step;

        observer.on_step(step, total, loss_value, phase);
        let mut out = vec![
            row(step, "train", "loss", loss_value, phase),
            row(step, "train", "lr", lr, phase),
            row(step, "train", "skipped_layers", skipped as f64, phase),
        ];
        // Periodic evaluations read the same prefix of the validation split at every point of
        // the learning curve, the last step included; when the prefix is the whole split, the
        // last point is the final evaluation below instead of a second pass over the same data.
        let eval_now = s.eval_every.is_some_and(|e| step % e as i64 == 0)
            && (step < total || !prefix_is_whole);
        if eval_now {
            match evaluate(model, valid_prefix, &s.eval, device, &|| {
                observer.interrupted()
            })? {
                Some(e) => {
                    let (name, value) = e.score(corpus.level);
                    out.push(row(step, "valid", name, value, phase));
                    out.push(row(step, "valid", "loss", e.loss(), phase));
                }
                // Interrupted: the checkpoints below and the one the loop writes on its way
                // out record that this evaluation is still owed.
                None => st.eval_pending = true,
            }
        }
        let every = s
            .checkpoints
            .as_ref()
            .and_then(|c| c.every)
            .is_some_and(|e| step % e as i64 == 0);
        let boundary = step == phase1_steps && phase1_steps < total;
        observer.on_metrics(out, eval_now || every || boundary)?;
        if boundary {
            write(checkpoint::PHASE1, st, vs, opt)?;
        }
        if every {
            write(checkpoint::LATEST, st, vs, opt)?;
        }
        if (boundary || every) && s.checkpoints.is_some() {
            observer.on_checkpoint(step)?;
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// The final evaluation on the full validation and test splits: their results, and the last
/// point of the validation curve. `Break`: an interrupt cut it short.
pub(super) fn final_evaluation(
    c: &Setup,
    t: &mut Training,
    observer: &mut dyn LmObserver,
) -> Result<ControlFlow<LmOutcome, Vec<ResultRow>>> {
    let Setup {
        s,
        corpus,
        device,
        total,
        phase1_steps,
        resumed_from,
        prefix_is_whole,
        ..
    } = *c;
    let Training {
        vs,
        model,
        opt,
        st,
        peak_device,
    } = t;
    let write = |name: &str, st: &State, vs: &VarStore, opt: &AdamW| c.write(name, st, vs, opt);
    // Final evaluation on the full splits.
    let last_phase = if total <= phase1_steps { 1 } else { 2 };
    let mut results = Vec::new();
    let mut rows = Vec::new();
    for (split, tokens) in [("valid", &corpus.valid), ("test", &corpus.test)] {
        let Some(e) = evaluate(model, tokens, &s.eval, device, &|| observer.interrupted())? else {
            // Interrupted in the final evaluation: every step is taken; a resumed run only
            // evaluates.
            let save = || write(checkpoint::LATEST, st, vs, opt);
            return stopped(observer, s, save, st.step, resumed_from, *peak_device)
                .map(ControlFlow::Break);
        };
        let (name, value) = e.score(corpus.level);
        for (n, v) in [
            (name, value),
            ("loss", e.loss()),
            ("tokens", e.tokens as f64),
        ] {
            results.push(ResultRow {
                split: split.into(),
                name: n.into(),
                value: v,
            });
            // The last point of the validation learning curve, when the periodic evaluations
            // read the whole split (see `eval_now`); test and token counts are results only.
            let curve_point =
                split == "valid" && n != "tokens" && s.eval_every.is_some() && prefix_is_whole;
            if curve_point {
                rows.push(row(st.step, split, n, v, last_phase));
            }
        }
    }
    observer.on_metrics(rows, true)?;
    Ok(ControlFlow::Continue(results))
}

/// The outcome of a completed run: the final evaluation's results, the parameter counts,
/// throughput per phase and the fractions of layers skipped.
pub(super) fn finish(c: &Setup, t: Training, mut results: Vec<ResultRow>) -> Result<LmOutcome> {
    let Setup {
        s,
        n_layer,
        resumed_from,
        ..
    } = *c;
    let Training {
        model,
        st,
        peak_device,
        ..
    } = t;
    let (params_total, params_non_embedding) = model.param_counts();
    let stats = &st.stats;
    let mut train_rows: Vec<(String, f64)> = vec![
        ("params_total".into(), params_total as f64),
        ("params_non_embedding".into(), params_non_embedding as f64),
        ("tokens_per_s".into(), tokens_per_s(stats)),
    ];
    for k in 0..2 {
        if stats.steps[k] > 0 {
            let p = k + 1;
            train_rows.push((
                format!("ms_per_step_phase{p}"),
                1000.0 * stats.seconds[k] / stats.steps[k] as f64,
            ));
            train_rows.push((
                format!("tokens_per_s_phase{p}"),
                stats.tokens[k] as f64 / stats.seconds[k].max(1e-12),
            ));
            train_rows.push((
                format!("skip_fraction_observed_phase{p}"),
                stats.skipped_layers[k] as f64 / (stats.steps[k] as f64 * n_layer as f64),
            ));
        }
    }
    let expected = s
        .variant
        .skip
        .as_ref()
        .map_or(0.0, |sched: &Schedule| sched.expected_fraction(n_layer));
    train_rows.push(("skip_fraction_expected".into(), expected));
    train_rows.push((
        "skip_fraction_observed".into(),
        if stats.steps[0] > 0 {
            stats.skipped_layers[0] as f64 / (stats.steps[0] as f64 * n_layer as f64)
        } else {
            0.0
        },
    ));
    results.extend(train_rows.into_iter().map(|(name, value)| ResultRow {
        split: "train".into(),
        name,
        value,
    }));
    Ok(LmOutcome {
        ending: Ending::Completed,
        steps: st.step,
        results,
        tokens_per_s: tokens_per_s(&st.stats),
        resumed_from,
        peak_device_bytes: peak_device,
    })
}

/// Stops a run interrupted at `step`: pending metrics flushed first (a resumed run keeps the
/// metrics up to its checkpoint), then the checkpoint written by `save` and reported.
fn stopped(
    observer: &mut dyn LmObserver,
    s: &LmSettings,
    save: impl FnOnce() -> Result<()>,
    step: i64,
    resumed_from: i64,
    peak_device_bytes: Option<i64>,
) -> Result<LmOutcome> {
    observer.on_metrics(vec![], true)?;
    save()?;
    if s.checkpoints.is_some() {
        observer.on_checkpoint(step)?;
    }
    Ok(LmOutcome {
        ending: Ending::Interrupted,
        steps: step,
        results: vec![],
        tokens_per_s: 0.0,
        resumed_from,
        peak_device_bytes,
    })
}

/// Gives every parameter a zero gradient before the first step. Layers skipped in a step get
/// no gradient from it; with their gradient defined (and zeroed by every `zero_grad`) Adam still
/// applies their momentum, in every step of every attempt alike, so that a resumed run updates
/// exactly as an uninterrupted one (and as PyTorch < 2.0's `zero_grad()` did in the original code).
fn define_gradients(vs: &VarStore) {
    let vars = vs.trainable_variables();
    if vars.is_empty() {
        return;
    }
    let zero: Vec<Tensor> = vars.iter().map(|v| v.sum(Kind::Float) * 0.0).collect();
    Tensor::stack(&zero, 0).sum(Kind::Float).backward();
}

fn row(step: i64, split: &str, name: &str, value: f64, phase: i64) -> MetricRow {
    MetricRow {
        step,
        split: split.into(),
        name: name.into(),
        value,
        phase: Some(phase),
    }
}

/// Counts what the model really skipped: the layers whose memory the last forward pass did not
/// write.
fn observed_skips(mem: &Memory) -> u64 {
    (0..mem.n_layer())
        .filter(|&l| mem.layer_age(l) != Some(1))
        .count() as u64
}
