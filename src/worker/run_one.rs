//! One claimed run: read its config, pick its device, train it with the loop its model kind
//! needs, and write how it ended (done, diverged, failed, interrupted) under its lease.

use super::observer::{Heartbeat, StoreObserver};
use super::{finetune_settings, is_lost_lease, pretrained, DataCache, WorkerOptions};
use crate::device;
use crate::environment::{self, Environment};
use crate::precision::Precision;
use crate::spec::{ModelKind, RunConfig};
use crate::store::{Claim, Finish, Lease, ResultRow, RunStatus, SplitPredictions, Store};
use crate::train::checkpoint::{self, CheckpointOwner};
use crate::train::finetune::{self, PreparedTask};
use crate::train::language_model::{self, LmSettings};
use crate::train::Ending;
use anyhow::{Context as _, Result};
use indicatif::ProgressBar;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::runtime::Runtime;

/// What every run of one worker shares.
pub struct Context<'a> {
    pub rt: &'a Runtime,
    pub store: &'a Store,
    pub opts: &'a WorkerOptions,
    pub heartbeat: Heartbeat,
    pub checkpoint_root: PathBuf,
    pub git_rev: Option<String>,
    pub run_bar: &'a ProgressBar,
}

/// How a run ended, for the claim loop.
pub enum RunEnd {
    /// Done, diverged or failed, with the line that says so.
    Line(RunStatus, String),
    /// Stopped by a signal: the run is back in the queue.
    Interrupted(String),
}

/// What either training loop returns, in the worker's terms.
struct Trained {
    ending: Ending,
    steps: i64,
    results: Vec<ResultRow>,
    /// Per-example predictions of the final evaluation (BERT runs; none for language models).
    predictions: Vec<SplitPredictions>,
    /// Examples/s (BERT) or tokens/s (language models).
    rate: f64,
    unit: &'static str,
    /// Peak device memory measured by the loop (CUDA).
    device_peak: Option<i64>,
    /// Step a language-model run resumed from.
    resumed_from: i64,
    /// The run's checkpoint folder, if it keeps checkpoints.
    checkpoints: Option<PathBuf>,
}

/// `dev acc 0.8125, dev f1 0.8`: the final metrics of a run's closing line.
fn summarize_results(results: &[ResultRow]) -> String {
    results
        .iter()
        .filter(|r| {
            r.name != "loss"
                && crate::analysis::result_kind(&r.name) == crate::analysis::ResultKind::Metric
                && r.split != "train"
                && !r.name.starts_with("majority_")
        })
        .map(|r| format!("{} {} {:.4}", r.split, r.name, r.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Trains one claimed run and writes how it ended.
pub fn run_one(
    ctx: &Context,
    claim: &Claim,
    data: &mut DataCache,
    devices: &mut HashMap<String, tch::Device>,
) -> Result<RunEnd> {
    let (rt, store, opts) = (ctx.rt, ctx.store, ctx.opts);
    let lease = &claim.lease;
    let label = format!(
        "{}/{} seed {}",
        claim.task, claim.variant, claim.seed as u64
    );
    let fail = |error: String, duration_s: f64| -> Result<RunEnd> {
        let finish = Finish {
            status: Some(RunStatus::Failed),
            duration_s,
            error: Some(error.clone()),
            ..Default::default()
        };
        rt.block_on(store.finish(lease, &[], &finish))?;
        Ok(RunEnd::Line(
            RunStatus::Failed,
            format!("{label}: FAILED: {error}"),
        ))
    };
    if opts.dry_train {
        rt.block_on(store.mark_started(lease, "none", ctx.git_rev.as_deref(), "{}"))?;
        let finish = Finish {
            status: Some(RunStatus::Done),
            steps: Some(0),
            ..Default::default()
        };
        rt.block_on(store.finish(lease, &[], &finish))?;
        return Ok(RunEnd::Line(
            RunStatus::Done,
            format!("{label}: done (--dry-train: not trained)"),
        ));
    }
    let c: RunConfig = match serde_json::from_str(&claim.config_json) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                format!(
                "the stored config of run {} does not parse ({e}); it was registered by another \
                     harness version: run this worker with that version, or re-register the spec",
                claim.key
            ),
                0.0,
            )
        }
    };
    let requested = opts.device.clone().unwrap_or_else(|| c.device.to_string());
    let device = match devices.get(&requested) {
        Some(d) => *d,
        None => {
            let d = device::resolve(&requested)?;
            // `harness run` said it for its grid already; a standalone worker says it once.
            if opts.grid.is_none() {
                if let Some(warning) = device::auto_fallback_warning(&requested, d) {
                    eprintln!("{warning}");
                }
            }
            devices.insert(requested.clone(), d);
            d
        }
    };
    let device_label = device::label(device);
    if let Some(threads) = opts.threads.or(c.threads) {
        tch::set_num_threads(threads as i32);
    }
    if let Err(e) = data.load_for(&c) {
        return fail(crate::exit::render(&e), 0.0);
    }
    ctx.run_bar.reset();
    ctx.run_bar.set_prefix(label.clone());
    let precision = Precision::resolve_saying_once(c.train.precision, device);
    let env_json = serde_json::to_string(&Environment::capture(&device_label, precision))?;
    rt.block_on(store.mark_started(lease, &device_label, ctx.git_rev.as_deref(), &env_json))?;
    environment::reset_peak_rss();
    crate::native::reset_peak_allocated(device);
    let started = Instant::now();

    let mut observer = StoreObserver {
        rt,
        store,
        lease,
        heartbeat: &ctx.heartbeat,
        owner: Some(CheckpointOwner {
            store_id: store.store_id().to_string(),
            experiment: lease.experiment.clone(),
            run_key: lease.key.clone(),
            attempt: lease.attempt,
        }),
        buffer: Vec::new(),
        bar: ctx.run_bar,
        last_dev: String::new(),
    };
    let result = match c.model.kind() {
        ModelKind::TransformerXl => {
            train_language_model(&c, data, device, &ctx.checkpoint_root, lease, &mut observer)
        }
        ModelKind::Bert => rt
            .block_on(store.delete_metrics_after(lease, 0))
            .map_err(anyhow::Error::from)
            .and_then(|_| train_finetune(&c, data, device, &mut observer)),
    };
    let duration_s = started.elapsed().as_secs_f64();
    let peak = if device == tch::Device::Cpu {
        environment::peak_rss_bytes()
    } else {
        // max_memory_allocated; where the allocator has no statistics, what the loop saw.
        crate::native::peak_allocated(device)
            .or_else(|| result.as_ref().ok().and_then(|t| t.device_peak))
    };
    match result {
        Ok(trained) => record(ctx, lease, &c, &label, trained, duration_s, peak),
        Err(e) if is_lost_lease(&e) => Err(e),
        Err(e) => fail(crate::exit::render(&e), duration_s),
    }
}

/// A Transformer-XL run: the language-model loop, with its checkpoint folder when it keeps one.
fn train_language_model(
    c: &RunConfig,
    data: &DataCache,
    device: tch::Device,
    checkpoint_root: &Path,
    lease: &Lease,
    observer: &mut StoreObserver,
) -> Result<Trained> {
    let dir = c
        .train
        .checkpoint_every
        .map(|_| checkpoint::run_dir(checkpoint_root, &lease.experiment, &lease.key));
    if let Some(dir) = &dir {
        for orphan in checkpoint::remove_orphans(dir)
            .with_context(|| format!("cleaning {}", dir.display()))?
        {
            eprintln!(
                "removed {}, left by a writer that was stopped mid-write",
                orphan.display()
            );
        }
    }
    let settings = LmSettings::from_run(c, dir.clone())?;
    let corpus = &data.corpora[&(c.data_dir.clone(), c.task.as_str().to_string())];
    let outcome = language_model::train(&settings, corpus, device, observer)?;
    Ok(Trained {
        ending: outcome.ending,
        steps: outcome.steps,
        results: outcome.results,
        predictions: Vec::new(),
        rate: outcome.tokens_per_s,
        unit: "tok/s",
        device_peak: outcome.peak_device_bytes,
        resumed_from: outcome.resumed_from,
        checkpoints: dir,
    })
}

/// A BERT run: tokenizes the task once per (task, length, limits, checkpoint), then fine-tunes.
fn train_finetune(
    c: &RunConfig,
    data: &mut DataCache,
    device: tch::Device,
    observer: &mut StoreObserver,
) -> Result<Trained> {
    let task = c.task.as_str().to_string();
    let model_dir = pretrained(c);
    if !data.tokenizers.contains_key(&model_dir) {
        let tok = finetune::load_tokenizer(&model_dir)?;
        data.tokenizers.insert(model_dir.clone(), tok);
    }
    let tokenizer = &data.tokenizers[&model_dir];
    let cache_key = (
        task.clone(),
        c.train.max_len as usize,
        c.train.max_train_examples.map(|n| n as usize),
        c.train.max_eval_examples.map(|n| n as usize),
        model_dir.clone(),
    );
    if !data.prepared.contains_key(&cache_key) {
        let source = &data.tasks[&(c.data_dir.clone(), task)];
        let p = PreparedTask::prepare(source, tokenizer, cache_key.1, cache_key.2, cache_key.3)?;
        data.prepared.insert(cache_key.clone(), p);
    }
    let outcome = finetune::finetune(
        &finetune_settings(c),
        &data.prepared[&cache_key],
        tokenizer,
        device,
        observer,
    )?;
    Ok(Trained {
        ending: outcome.ending,
        steps: outcome.steps,
        results: outcome.results,
        predictions: outcome.predictions,
        rate: outcome.examples_per_s,
        unit: "ex/s",
        device_peak: None,
        resumed_from: 0,
        checkpoints: None,
    })
}

/// Writes how a trained run ended and says it in one line.
fn record(
    ctx: &Context,
    lease: &Lease,
    c: &RunConfig,
    label: &str,
    trained: Trained,
    duration_s: f64,
    peak: Option<i64>,
) -> Result<RunEnd> {
    let (rt, store) = (ctx.rt, ctx.store);
    // The rolling checkpoint of a finished run is no longer needed.
    let drop_checkpoint = |t: &Trained| -> Result<()> {
        if let Some(dir) = &t.checkpoints {
            checkpoint::remove(&dir.join(checkpoint::LATEST))
                .with_context(|| format!("removing the checkpoint in {}", dir.display()))?;
        }
        Ok(())
    };
    match trained.ending {
        Ending::Interrupted => {
            let released = rt.block_on(store.release(lease))?;
            let resume = if trained.checkpoints.is_some() {
                format!(" and resumes from step {}", trained.steps)
            } else {
                String::new()
            };
            Ok(RunEnd::Interrupted(if released {
                format!("interrupted during {label}: the run is back in the queue{resume}; rerun to finish the grid")
            } else {
                format!("interrupted during {label}; its lease was already lost to another worker")
            }))
        }
        Ending::Completed => {
            let mut results = trained.results.clone();
            if c.model.kind() == ModelKind::TransformerXl {
                if let Some(bytes) = peak {
                    results.push(ResultRow {
                        split: "train".into(),
                        name: "peak_memory_bytes".into(),
                        value: bytes as f64,
                    });
                }
            }
            let finish = Finish {
                status: Some(RunStatus::Done),
                duration_s,
                error: None,
                steps: Some(trained.steps),
                train_examples_per_s: Some(trained.rate),
                peak_memory_bytes: peak,
                predictions: trained.predictions.clone(),
            };
            rt.block_on(store.finish(lease, &results, &finish))?;
            drop_checkpoint(&trained)?;
            let resumed = if trained.resumed_from > 0 {
                format!(", resumed at step {}", trained.resumed_from)
            } else {
                String::new()
            };
            Ok(RunEnd::Line(
                RunStatus::Done,
                format!(
                    "{label}: done in {duration_s:.1}s ({} steps{resumed}, {:.1} {}): {}",
                    trained.steps,
                    trained.rate,
                    trained.unit,
                    summarize_results(&trained.results)
                ),
            ))
        }
        Ending::Diverged { step, loss } => {
            let error = format!("training loss became {loss} at step {step}");
            let finish = Finish {
                status: Some(RunStatus::Diverged),
                duration_s,
                error: Some(error.clone()),
                steps: Some(step),
                train_examples_per_s: Some(trained.rate),
                peak_memory_bytes: peak,
                predictions: Vec::new(),
            };
            rt.block_on(store.finish(lease, &[], &finish))?;
            drop_checkpoint(&trained)?;
            Ok(RunEnd::Line(
                RunStatus::Diverged,
                format!("{label}: DIVERGED ({error}); the grid goes on"),
            ))
        }
    }
}
