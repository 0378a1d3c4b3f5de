//! The worker loop: claim a queued run, train it, write it, repeat; shared by `harness run`
//! (in-process) and `harness worker` (any number of processes on any number of machines).
//!
//! A claimed run is held by a lease (see `store`) that a tokio task renews every quarter of
//! `--lease` on its own timer, whatever training does. Every write of the run is fenced by the
//! lease: a worker that stopped renewing (frozen, partitioned) and comes back writes nothing,
//! says "lost the lease of run … (attempt N); another worker owns it now", drops that run and
//! goes on with the next. Before each claim the worker reaps expired leases (and, as a fast
//! path, runs whose worker process on this host is gone); while other workers' runs are still
//! running and nothing is queued it waits up to `--idle-exit` to take over a lease that expires.
//!
//! Runs of `model.kind: bert` go to the fine-tuning loop, runs of `transformer_xl` to the
//! language-model loop. A language-model run with `train.checkpoint_every` keeps its
//! checkpoints in `<checkpoint dir>/<experiment>/<run_key>/` (see `train::checkpoint`): a
//! requeued run resumes from its last checkpoint (written by this store, same run, same or
//! earlier attempt) and rewrites only the metric rows after it; the rolling checkpoint is
//! deleted once the run is done or diverged, the phase-1 checkpoint kept.
//!
//! SIGINT, SIGTERM and SIGUSR2 stop the worker: the current run checkpoints where it can, its
//! lease is released (the run is queued again) and the process exits 130. A second signal exits
//! at once (the lease then expires and another worker takes the run).

mod data_cache;
mod identity;
mod observer;
mod options;
mod signals;

pub use data_cache::{finetune_settings, pretrained, DataCache};
pub use identity::{identity, parse_duration};
pub use options::{WorkerOptions, WorkerSummary};
pub use signals::{defer_signals, install_signal_handlers, stop_requested};

use observer::{Heartbeat, StoreObserver};

use crate::device;
use crate::environment::{self, Environment};
use crate::precision::Precision;
use crate::spec::{ModelKind, RunConfig};
use crate::store::{Claim, RunStatus, Store, StoreError};
use crate::train::checkpoint::{self, CheckpointOwner};
use crate::train::finetune::{self, PreparedTask};
use crate::train::language_model::{self, LmSettings};
use crate::train::Ending;
use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// What either training loop returns, in the worker's terms.
struct Trained {
    ending: Ending,
    steps: i64,
    results: Vec<crate::store::ResultRow>,
    /// Per-example predictions of the final evaluation (BERT runs; none for language models).
    predictions: Vec<crate::store::SplitPredictions>,
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

fn summarize_results(results: &[crate::store::ResultRow]) -> String {
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

/// Whether `e` says the lease was lost.
pub fn is_lost_lease(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(|s| matches!(s, StoreError::LostLease { .. }))
    })
}

/// Claims and runs runs until none is left to claim (see the module documentation). `store`
/// is opened by the caller on a runtime with at least one worker thread.
pub fn work(
    rt: &Runtime,
    store: Arc<Store>,
    opts: &WorkerOptions,
    data: &mut DataCache,
) -> Result<WorkerSummary> {
    let me = identity();
    let heartbeat = Heartbeat::start(rt, store.clone(), opts.lease);
    let git_rev = environment::git_revision();
    let checkpoint_root = opts.checkpoint_root();
    let multi = MultiProgress::with_draw_target(if opts.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let grid_bar = opts.grid.map(|(total, finished)| {
        let bar = multi.add(ProgressBar::new(total));
        bar.set_style(grid_bar_style());
        bar.set_position(finished);
        bar
    });
    let run_bar = multi.add(ProgressBar::new(1));
    run_bar.set_style(
        ProgressStyle::with_template(
            "run  {bar:30.green/white} {pos}/{len} steps {per_sec}  {prefix} {msg}",
        )
        .expect("valid template"),
    );
    let say = |line: String| multi.suspend(|| eprintln!("{line}"));
    let mut devices: HashMap<String, tch::Device> = HashMap::new();
    let mut summary = WorkerSummary::default();
    let mut idle_since: Option<Instant> = None;
    let poll = (opts.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));

    while opts.max_runs.is_none_or(|m| summary.ran < m) {
        if stop_requested() {
            summary.interrupted = true;
            say("interrupted between runs: none was in progress; rerun to finish the grid".into());
            break;
        }
        for r in rt.block_on(store.reap(
            &opts.experiments,
            opts.max_attempts,
            environment::worker_is_dead,
        ))? {
            say(format!(
                "run {} of {}: {}",
                r.key,
                r.experiment,
                r.reason.replace("; requeued", "; back in the queue")
            ));
        }
        let names = if opts.experiments.is_empty() {
            rt.block_on(store.experiments())?
                .into_iter()
                .map(|e| e.name)
                .collect()
        } else {
            opts.experiments.clone()
        };
        let mut claim = None;
        for name in &names {
            claim =
                rt.block_on(store.claim_next(name, &me, opts.only_keys.as_deref(), opts.lease))?;
            if claim.is_some() {
                break;
            }
        }
        let Some(claim) = claim else {
            // Nothing queued: wait while other workers' runs are running, to take over a lease
            // that expires, up to --idle-exit.
            let running = rt
                .block_on(store.status_counts(&names))?
                .into_iter()
                .any(|(s, n)| s == RunStatus::Running.as_str() && n > 0);
            let since = *idle_since.get_or_insert_with(Instant::now);
            if running && since.elapsed() < opts.idle_exit {
                std::thread::sleep(poll);
                continue;
            }
            break;
        };
        idle_since = None;
        heartbeat.hold(Some(claim.lease.clone()));
        let outcome = run_one(
            rt,
            &store,
            &claim,
            opts,
            data,
            &mut devices,
            &heartbeat,
            &checkpoint_root,
            git_rev.as_deref(),
            &run_bar,
        );
        heartbeat.hold(None);
        let line = match outcome {
            Ok(RunEnd::Line(status, line)) => {
                match status {
                    RunStatus::Done => summary.done += 1,
                    RunStatus::Diverged => summary.diverged += 1,
                    _ => summary.failed += 1,
                }
                line
            }
            Ok(RunEnd::Interrupted(line)) => {
                summary.interrupted = true;
                say(line);
                break;
            }
            Err(e) if is_lost_lease(&e) => {
                summary.lost += 1;
                format!(
                    "lost the lease of run {} (attempt {}); another worker owns it now; nothing more of this attempt is written",
                    claim.key, claim.attempt
                )
            }
            Err(e) => return Err(e),
        };
        summary.ran += 1;
        match &grid_bar {
            Some(bar) => {
                bar.inc(1);
                say(format!(
                    "[{}/{}] {line}",
                    bar.position(),
                    bar.length().unwrap_or(0)
                ));
            }
            None => say(line),
        }
    }
    run_bar.finish_and_clear();
    if let Some(bar) = grid_bar {
        bar.finish_and_clear();
    }
    Ok(summary)
}

enum RunEnd {
    Line(RunStatus, String),
    Interrupted(String),
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    rt: &Runtime,
    store: &Store,
    claim: &Claim,
    opts: &WorkerOptions,
    data: &mut DataCache,
    devices: &mut HashMap<String, tch::Device>,
    heartbeat: &Heartbeat,
    checkpoint_root: &std::path::Path,
    git_rev: Option<&str>,
    run_bar: &ProgressBar,
) -> Result<RunEnd> {
    let lease = &claim.lease;
    let label = format!(
        "{}/{} seed {}",
        claim.task, claim.variant, claim.seed as u64
    );
    let fail = |error: String, duration_s: f64| -> Result<RunEnd> {
        rt.block_on(store.finish(
            lease,
            &[],
            &crate::store::Finish {
                status: Some(RunStatus::Failed),
                duration_s,
                error: Some(error.clone()),
                ..Default::default()
            },
        ))?;
        Ok(RunEnd::Line(
            RunStatus::Failed,
            format!("{label}: FAILED: {error}"),
        ))
    };
    if opts.dry_train {
        rt.block_on(store.mark_started(lease, "none", git_rev, "{}"))?;
        rt.block_on(store.finish(
            lease,
            &[],
            &crate::store::Finish {
                status: Some(RunStatus::Done),
                steps: Some(0),
                ..Default::default()
            },
        ))?;
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
    run_bar.reset();
    run_bar.set_prefix(label.clone());
    let precision = Precision::resolve_saying_once(c.train.precision, device);
    let env_json = serde_json::to_string(&Environment::capture(&device_label, precision))?;
    rt.block_on(store.mark_started(lease, &device_label, git_rev, &env_json))?;
    environment::reset_peak_rss();
    crate::native::reset_peak_allocated(device);
    let started = Instant::now();
    let data_key = (c.data_dir.clone(), c.task.as_str().to_string());

    let result = (|| -> Result<Trained> {
        let mut observer = StoreObserver {
            rt,
            store,
            lease,
            heartbeat,
            owner: Some(CheckpointOwner {
                store_id: store.store_id().to_string(),
                experiment: lease.experiment.clone(),
                run_key: lease.key.clone(),
                attempt: lease.attempt,
            }),
            buffer: Vec::new(),
            bar: run_bar,
            last_dev: String::new(),
        };
        if c.model.kind() == ModelKind::TransformerXl {
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
            let settings = LmSettings::from_run(&c, dir.clone())?;
            let outcome =
                language_model::train(&settings, &data.corpora[&data_key], device, &mut observer)?;
            return Ok(Trained {
                ending: outcome.ending,
                steps: outcome.steps,
                results: outcome.results,
                predictions: Vec::new(),
                rate: outcome.tokens_per_s,
                unit: "tok/s",
                device_peak: outcome.peak_device_bytes,
                resumed_from: outcome.resumed_from,
                checkpoints: dir,
            });
        }
        rt.block_on(store.delete_metrics_after(lease, 0))?;
        let model_dir = pretrained(&c);
        if !data.tokenizers.contains_key(&model_dir) {
            let tok = finetune::load_tokenizer(&model_dir)?;
            data.tokenizers.insert(model_dir.clone(), tok);
        }
        let tokenizer = &data.tokenizers[&model_dir];
        let cache_key = (
            data_key.1.clone(),
            c.train.max_len as usize,
            c.train.max_train_examples.map(|n| n as usize),
            c.train.max_eval_examples.map(|n| n as usize),
            model_dir.clone(),
        );
        if !data.prepared.contains_key(&cache_key) {
            let p = PreparedTask::prepare(
                &data.tasks[&data_key],
                tokenizer,
                cache_key.1,
                cache_key.2,
                cache_key.3,
            )?;
            data.prepared.insert(cache_key.clone(), p);
        }
        let outcome = finetune::finetune(
            &finetune_settings(&c),
            &data.prepared[&cache_key],
            tokenizer,
            device,
            &mut observer,
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
    })();
    let duration_s = started.elapsed().as_secs_f64();
    let peak = if device == tch::Device::Cpu {
        environment::peak_rss_bytes()
    } else {
        // max_memory_allocated; where the allocator has no statistics, what the loop saw.
        crate::native::peak_allocated(device)
            .or_else(|| result.as_ref().ok().and_then(|t| t.device_peak))
    };
    // The rolling checkpoint of a finished run is no longer needed.
    let drop_checkpoint = |t: &Trained| -> Result<()> {
        if let Some(dir) = &t.checkpoints {
            checkpoint::remove(&dir.join(checkpoint::LATEST))
                .with_context(|| format!("removing the checkpoint in {}", dir.display()))?;
        }
        Ok(())
    };

    match result {
        Ok(outcome) => {
            match outcome.ending {
                Ending::Interrupted => {
                    let released = rt.block_on(store.release(lease))?;
                    let resume = if outcome.checkpoints.is_some() {
                        format!(" and resumes from step {}", outcome.steps)
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
                    let mut results = outcome.results.clone();
                    if c.model.kind() == ModelKind::TransformerXl {
                        if let Some(bytes) = peak {
                            results.push(crate::store::ResultRow {
                                split: "train".into(),
                                name: "peak_memory_bytes".into(),
                                value: bytes as f64,
                            });
                        }
                    }
                    rt.block_on(store.finish(
                        lease,
                        &results,
                        &crate::store::Finish {
                            status: Some(RunStatus::Done),
                            duration_s,
                            error: None,
                            steps: Some(outcome.steps),
                            train_examples_per_s: Some(outcome.rate),
                            peak_memory_bytes: peak,
                            predictions: outcome.predictions.clone(),
                        },
                    ))?;
                    drop_checkpoint(&outcome)?;
                    let resumed = if outcome.resumed_from > 0 {
                        format!(", resumed at step {}", outcome.resumed_from)
                    } else {
                        String::new()
                    };
                    Ok(RunEnd::Line(
                        RunStatus::Done,
                        format!(
                            "{label}: done in {duration_s:.1}s ({} steps{resumed}, {:.1} {}): {}",
                            outcome.steps,
                            outcome.rate,
                            outcome.unit,
                            summarize_results(&outcome.results)
                        ),
                    ))
                }
                Ending::Diverged { step, loss } => {
                    let error = format!("training loss became {loss} at step {step}");
                    rt.block_on(store.finish(
                        lease,
                        &[],
                        &crate::store::Finish {
                            status: Some(RunStatus::Diverged),
                            duration_s,
                            error: Some(error.clone()),
                            steps: Some(step),
                            train_examples_per_s: Some(outcome.rate),
                            peak_memory_bytes: peak,
                            predictions: Vec::new(),
                        },
                    ))?;
                    drop_checkpoint(&outcome)?;
                    Ok(RunEnd::Line(
                        RunStatus::Diverged,
                        format!("{label}: DIVERGED ({error}); the grid goes on"),
                    ))
                }
            }
        }
        Err(e) if is_lost_lease(&e) => Err(e),
        Err(e) => fail(crate::exit::render(&e), duration_s),
    }
}

/// The style of the grid's progress bar, in this process and over worker processes alike.
pub(crate) fn grid_bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "grid {bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise} (eta {eta})  {msg}",
    )
    .expect("valid template")
}
