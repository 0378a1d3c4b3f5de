//! Pending runs → training → store. Claims runs one at a time (atomically, so several workers
//! can share a database), records divergence and failure without stopping the grid, and on
//! Ctrl-C/SIGTERM puts the current run back in the queue so that a rerun loses nothing and
//! duplicates nothing.
//!
//! Runs of `model.kind: bert` go to the fine-tuning loop, runs of `transformer_xl` to the
//! language-model loop. A language-model run with `train.checkpoint_every` keeps its checkpoints
//! in `<db folder>/checkpoints/<experiment>/<run_key>/`: a requeued run (killed, interrupted,
//! failed) resumes from its last checkpoint and rewrites only the metric rows after it; the
//! rolling checkpoint is deleted once the run is done or diverged, the phase-1 checkpoint kept.
//! For language-model runs the runs table's `train_examples_per_s` holds training tokens/s.

use crate::data::lm::Corpus;
use crate::data::{self, TaskData};
use crate::device;
use crate::environment::{self, Environment};
use crate::spec::{LoadedSpec, ModelKind, RunConfig, RunPlan};
use crate::store::{ExperimentRow, Finish, MetricRow, NewRun, RunStatus, Store};
use crate::train::checkpoint;
use crate::train::finetune::{self, FinetuneSettings, Observer, PreparedTask};
use crate::train::language_model::{self, LmObserver, LmSettings};
use crate::train::Ending;
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::runtime::Runtime;

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    // A second Ctrl-C stops at once; the run left `running` is requeued by the next `harness run`.
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        unsafe { libc::_exit(130) };
    }
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only touches atomics and calls _exit, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// A tokenized task is reused by every run with the same (task, max_len, subsets, checkpoint).
type PreparedKey = (String, usize, Option<usize>, Option<usize>, PathBuf);

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub db: PathBuf,
    /// Overrides the spec's `device`.
    pub device: Option<String>,
    /// Requeue failed runs before starting.
    pub retry_failed: bool,
    /// Stop after this many runs (the rest stay queued).
    pub max_runs: Option<usize>,
    /// Hide progress bars.
    pub quiet: bool,
}

#[derive(Debug, Default, Clone)]
pub struct GridSummary {
    pub total: usize,
    pub ran: usize,
    pub done: usize,
    pub failed: usize,
    pub diverged: usize,
    pub queued: usize,
    pub interrupted: bool,
}

/// Settings of the fine-tuning loop from a resolved run config.
pub fn finetune_settings(c: &RunConfig) -> FinetuneSettings {
    FinetuneSettings {
        seed: c.seed,
        pretrained: pretrained(c),
        layers: c.model.layers,
        dropout: c.model.dropout,
        epochs: c.train.epochs as usize,
        max_steps: c.train.max_steps.map(|n| n as usize),
        batch_size: c.train.batch_size as usize,
        lr: c.train.lr,
        warmup_ratio: c.train.warmup_ratio,
        weight_decay: c.train.weight_decay,
        eval_every: c.train.eval_every.map(|n| n as usize),
        grad_clip: c.train.grad_clip,
        cross_head_prob: c.variant_settings.cross_head_prob,
    }
}

/// The checkpoint directory of a BERT run (validation guarantees it is set).
fn pretrained(c: &RunConfig) -> PathBuf {
    c.model.pretrained.clone().unwrap_or_default()
}

/// The data of a grid, loaded once.
#[derive(Default)]
struct GridData {
    tasks: HashMap<String, TaskData>,
    corpora: HashMap<String, Corpus>,
}

/// Checks, before anything is written, that the model and every task's data are there.
fn preflight(plans: &[RunPlan]) -> Result<GridData> {
    let mut grid = GridData::default();
    for plan in plans {
        let c = &plan.config;
        if c.model.kind == ModelKind::TransformerXl {
            if !grid.corpora.contains_key(&plan.task) {
                let corpus = data::lm::load_corpus(&c.data_dir, &plan.task)
                    .with_context(|| format!("loading corpus `{}`", plan.task))?;
                grid.corpora.insert(plan.task.clone(), corpus);
            }
            continue;
        }
        let tasks = &mut grid.tasks;
        let config_json = pretrained(c).join("config.json");
        if !config_json.is_file() {
            bail!(
                "pretrained model not found: {} does not exist. {}",
                config_json.display(),
                crate::data::models::how_to_get(&c.data_dir, &pretrained(c))
            );
        }
        let dir = pretrained(c);
        if !dir.join("model.safetensors").is_file() && dir.join("pytorch_model.bin").is_file() {
            bail!("{}", crate::model::bert::pytorch_only_message(&dir));
        }
        if !tasks.contains_key(&plan.task) {
            let data = data::load_task(&c.data_dir, &plan.task)
                .with_context(|| format!("loading task `{}`", plan.task))?;
            tasks.insert(plan.task.clone(), data);
        }
    }
    Ok(grid)
}

struct StoreObserver<'a> {
    rt: &'a Runtime,
    store: &'a Store,
    experiment: &'a str,
    key: &'a str,
    buffer: Vec<MetricRow>,
    bar: &'a ProgressBar,
    last_dev: String,
}

impl Observer for StoreObserver<'_> {
    fn on_step(&mut self, step: i64, total: i64, loss: f64) {
        self.bar.set_length(total as u64);
        self.bar.set_position(step as u64);
        self.bar
            .set_message(format!("train loss {loss:.4}{}", self.last_dev));
    }

    fn on_metrics(&mut self, rows: Vec<MetricRow>, flush: bool) -> Result<()> {
        let dev: Vec<String> = rows
            .iter()
            .filter(|r| r.split != "train" && r.name != "loss")
            .map(|r| format!("{} {} {:.4}", r.split, r.name, r.value))
            .collect();
        if !dev.is_empty() {
            self.last_dev = format!(" | {}", dev.join(", "));
        }
        self.buffer.extend(rows);
        if flush || self.buffer.len() >= 256 {
            let rows = std::mem::take(&mut self.buffer);
            self.rt
                .block_on(self.store.write_metrics(self.experiment, self.key, &rows))?;
        }
        Ok(())
    }

    fn interrupted(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}

impl LmObserver for StoreObserver<'_> {
    fn on_start(&mut self, step: i64, total: i64) -> Result<()> {
        self.rt.block_on(
            self.store
                .delete_metrics_after(self.experiment, self.key, step),
        )?;
        self.bar.set_length(total as u64);
        self.bar.set_position(step as u64);
        Ok(())
    }

    fn on_step(&mut self, step: i64, total: i64, loss: f64, phase: i64) {
        self.bar.set_length(total as u64);
        self.bar.set_position(step as u64);
        self.bar.set_message(format!(
            "phase {phase} train loss {loss:.4}{}",
            self.last_dev
        ));
    }

    fn on_metrics(&mut self, rows: Vec<MetricRow>, flush: bool) -> Result<()> {
        Observer::on_metrics(self, rows, flush)
    }

    fn interrupted(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}

/// What either training loop returns, in the runner's terms.
struct Trained {
    ending: Ending,
    steps: i64,
    results: Vec<crate::store::ResultRow>,
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

/// Runs every run of the grid that is not done yet.
pub fn run(loaded: &LoadedSpec, plans: &[RunPlan], opts: &RunOptions) -> Result<GridSummary> {
    let spec = &loaded.spec;
    let requested_device = opts
        .device
        .clone()
        .unwrap_or_else(|| spec.device.to_string());
    let device = device::resolve(&requested_device)?;
    let device_label = device::label(device);
    if let Some(threads) = spec.threads {
        tch::set_num_threads(threads as i32);
    }
    let grid_data = preflight(plans)?;
    let tasks = &grid_data.tasks;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = rt.block_on(Store::open(&opts.db))?;
    let experiment = ExperimentRow {
        name: spec.name.clone(),
        description: spec.description.clone(),
        spec_path: loaded.path.display().to_string(),
        spec_text: loaded.text.clone(),
        overrides: serde_json::to_string(&loaded.overrides)?,
        spec_hash: loaded.hash.clone(),
        baseline: spec.baseline.clone(),
    };
    let new_runs: Vec<NewRun> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(NewRun {
                key: p.key.clone(),
                ordinal: i as i64,
                task: p.task.clone(),
                variant: p.variant.clone(),
                seed: p.seed,
                sweep_json: serde_json::to_string(&p.sweep)?,
                config_json: serde_json::to_string(&p.config)?,
            })
        })
        .collect::<Result<_>>()?;
    let added = rt.block_on(store.register(&experiment, &new_runs))?;
    let requeued = rt.block_on(store.requeue_abandoned(&spec.name, environment::worker_is_dead))?;
    if opts.retry_failed {
        rt.block_on(store.requeue_status(&spec.name, RunStatus::Failed))?;
    }

    let keys: Vec<String> = plans.iter().map(|p| p.key.clone()).collect();
    let count = |rows: &[crate::store::RunRow], st: RunStatus| {
        rows.iter()
            .filter(|r| r.status == st.as_str() && keys.contains(&r.run_key))
            .count()
    };
    let rows = rt.block_on(store.runs(&spec.name))?;
    let finished = count(&rows, RunStatus::Done)
        + count(&rows, RunStatus::Diverged)
        + count(&rows, RunStatus::Failed);
    eprintln!(
        "experiment {}: {} runs in the grid ({} new, {} finished, {} queued{}); device {}, {} threads; database {}",
        spec.name,
        plans.len(),
        added,
        finished,
        count(&rows, RunStatus::Queued),
        if requeued.is_empty() {
            String::new()
        } else {
            format!(", {} requeued from an interrupted worker", requeued.len())
        },
        device_label,
        tch::get_num_threads(),
        opts.db.display()
    );

    install_signal_handlers();
    let worker = environment::worker_id();
    let git_rev = environment::git_revision();
    let env_json = serde_json::to_string(&Environment::capture(&device_label))?;
    let multi = MultiProgress::with_draw_target(if opts.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let grid_bar = multi.add(ProgressBar::new(plans.len() as u64));
    grid_bar.set_style(
        ProgressStyle::with_template(
            "grid {bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise} (eta {eta})  {msg}",
        )
        .expect("valid template"),
    );
    grid_bar.set_position(finished as u64);
    let run_bar = multi.add(ProgressBar::new(1));
    run_bar.set_style(
        ProgressStyle::with_template(
            "run  {bar:30.green/white} {pos}/{len} steps {per_sec}  {prefix} {msg}",
        )
        .expect("valid template"),
    );

    let mut prepared: HashMap<PreparedKey, PreparedTask> = HashMap::new();
    let mut tokenizers: HashMap<PathBuf, crate::model::tokenizer::BertTokenizer> = HashMap::new();
    let mut summary = GridSummary {
        total: plans.len(),
        ..Default::default()
    };

    while opts.max_runs.is_none_or(|m| summary.ran < m) {
        if STOP.load(Ordering::SeqCst) {
            summary.interrupted = true;
            break;
        }
        let Some(claim) = rt.block_on(store.claim_next(&spec.name, &worker, Some(&keys)))? else {
            break;
        };
        let plan = plans
            .iter()
            .find(|p| p.key == claim.key)
            .expect("claims are restricted to the grid's keys");
        let c = &plan.config;
        let label = format!("{}/{} seed {}", plan.task, plan.variant, plan.seed);
        run_bar.reset();
        run_bar.set_prefix(label.clone());
        rt.block_on(store.mark_started(
            &spec.name,
            &claim.key,
            &device_label,
            git_rev.as_deref(),
            &env_json,
        ))?;
        environment::reset_peak_rss();
        let started = Instant::now();

        let result = (|| -> Result<Trained> {
            let mut observer = StoreObserver {
                rt: &rt,
                store: &store,
                experiment: &spec.name,
                key: &claim.key,
                buffer: Vec::new(),
                bar: &run_bar,
                last_dev: String::new(),
            };
            if c.model.kind == ModelKind::TransformerXl {
                let dir = c
                    .train
                    .checkpoint_every
                    .map(|_| checkpoint::run_dir(&opts.db, &spec.name, &claim.key));
                let settings = LmSettings::from_run(c, dir.clone())?;
                let outcome = language_model::train(
                    &settings,
                    &grid_data.corpora[&plan.task],
                    device,
                    &mut observer,
                )?;
                return Ok(Trained {
                    ending: outcome.ending,
                    steps: outcome.steps,
                    results: outcome.results,
                    rate: outcome.tokens_per_s,
                    unit: "tok/s",
                    device_peak: outcome.peak_device_bytes,
                    resumed_from: outcome.resumed_from,
                    checkpoints: dir,
                });
            }
            rt.block_on(store.delete_metrics_after(&spec.name, &claim.key, 0))?;
            let model_dir = pretrained(c);
            if !tokenizers.contains_key(&model_dir) {
                let tok = finetune::load_tokenizer(&model_dir)?;
                tokenizers.insert(model_dir.clone(), tok);
            }
            let tokenizer = &tokenizers[&model_dir];
            let cache_key = (
                plan.task.clone(),
                c.train.max_len as usize,
                c.train.max_train_examples.map(|n| n as usize),
                c.train.max_eval_examples.map(|n| n as usize),
                model_dir.clone(),
            );
            if !prepared.contains_key(&cache_key) {
                let p = PreparedTask::prepare(
                    &tasks[&plan.task],
                    tokenizer,
                    cache_key.1,
                    cache_key.2,
                    cache_key.3,
                )?;
                prepared.insert(cache_key.clone(), p);
            }
            let outcome = finetune::finetune(
                &finetune_settings(c),
                &prepared[&cache_key],
                tokenizer,
                device,
                &mut observer,
            )?;
            Ok(Trained {
                ending: outcome.ending,
                steps: outcome.steps,
                results: outcome.results,
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
            result.as_ref().ok().and_then(|t| t.device_peak)
        };
        // The rolling checkpoint of a finished run is no longer needed.
        let drop_checkpoint = |t: &Trained| -> Result<()> {
            if let Some(dir) = &t.checkpoints {
                checkpoint::remove(&dir.join(checkpoint::LATEST))
                    .with_context(|| format!("removing the checkpoint in {}", dir.display()))?;
            }
            Ok(())
        };

        let line = match result {
            Ok(outcome) => match outcome.ending {
                Ending::Interrupted => {
                    rt.block_on(store.requeue(&spec.name, &claim.key, "running"))?;
                    summary.interrupted = true;
                    let resume = if outcome.checkpoints.is_some() {
                        format!(" and resumes from step {}", outcome.steps)
                    } else {
                        String::new()
                    };
                    multi.suspend(|| {
                        eprintln!("interrupted during {label}: the run is back in the queue{resume}; rerun to finish the grid")
                    });
                    break;
                }
                Ending::Completed => {
                    let mut results = outcome.results.clone();
                    if c.model.kind == ModelKind::TransformerXl {
                        if let Some(bytes) = peak {
                            results.push(crate::store::ResultRow {
                                split: "train".into(),
                                name: "peak_memory_bytes".into(),
                                value: bytes as f64,
                            });
                        }
                    }
                    rt.block_on(store.finish(
                        &spec.name,
                        &claim.key,
                        &results,
                        &Finish {
                            status: Some(RunStatus::Done),
                            duration_s,
                            error: None,
                            steps: Some(outcome.steps),
                            train_examples_per_s: Some(outcome.rate),
                            peak_memory_bytes: peak,
                        },
                    ))?;
                    drop_checkpoint(&outcome)?;
                    summary.done += 1;
                    let resumed = if outcome.resumed_from > 0 {
                        format!(", resumed at step {}", outcome.resumed_from)
                    } else {
                        String::new()
                    };
                    format!(
                        "{label}: done in {duration_s:.1}s ({} steps{resumed}, {:.1} {}): {}",
                        outcome.steps,
                        outcome.rate,
                        outcome.unit,
                        summarize_results(&outcome.results)
                    )
                }
                Ending::Diverged { step, loss } => {
                    let error = format!("training loss became {loss} at step {step}");
                    rt.block_on(store.finish(
                        &spec.name,
                        &claim.key,
                        &[],
                        &Finish {
                            status: Some(RunStatus::Diverged),
                            duration_s,
                            error: Some(error.clone()),
                            steps: Some(step),
                            train_examples_per_s: Some(outcome.rate),
                            peak_memory_bytes: peak,
                        },
                    ))?;
                    drop_checkpoint(&outcome)?;
                    summary.diverged += 1;
                    format!("{label}: DIVERGED ({error}); the grid goes on")
                }
            },
            Err(e) => {
                let error = format!("{e:#}");
                rt.block_on(store.finish(
                    &spec.name,
                    &claim.key,
                    &[],
                    &Finish {
                        status: Some(RunStatus::Failed),
                        duration_s,
                        error: Some(error.clone()),
                        ..Default::default()
                    },
                ))?;
                summary.failed += 1;
                format!("{label}: FAILED: {error}")
            }
        };
        summary.ran += 1;
        grid_bar.inc(1);
        multi.suspend(|| eprintln!("[{}/{}] {line}", grid_bar.position(), plans.len()));
    }
    run_bar.finish_and_clear();
    grid_bar.finish_and_clear();
    let rows = rt.block_on(store.runs(&spec.name))?;
    summary.queued = count(&rows, RunStatus::Queued) + count(&rows, RunStatus::Running);
    rt.block_on(store.close());
    Ok(summary)
}
