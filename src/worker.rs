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

use crate::data::lm::Corpus;
use crate::data::{self, TaskData};
use crate::device;
use crate::environment::{self, Environment};
use crate::spec::{ModelKind, RunConfig};
use crate::store::{Claim, Lease, MetricRow, RunStatus, Store, StoreError, WorkerIdentity};
use crate::train::checkpoint::{self, CheckpointOwner};
use crate::train::finetune::{self, FinetuneSettings, Observer, PreparedTask};
use crate::train::language_model::{self, LmObserver, LmSettings};
use crate::train::Ending;
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// Set once there is work a stop must wind down (a run to checkpoint and requeue); before
/// that, a signal ends the process at once.
static DEFER: AtomicBool = AtomicBool::new(false);

/// Writes `msg` to stderr from a signal handler (`write(2)` is async-signal-safe).
fn signal_message(msg: &[u8]) {
    // SAFETY: writes a static buffer to fd 2; the result is deliberately ignored.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    if !DEFER.load(Ordering::SeqCst) {
        signal_message(
            b"\ninterrupted before any run started; nothing is lost, rerun to continue\n",
        );
        unsafe { libc::_exit(130) };
    }
    // A second signal stops at once; the run left `running` is reaped when its lease expires
    // (or at once by a worker on this host, which sees the process is gone).
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        signal_message(
            b"\ninterrupted again: exiting now; the next `harness run` requeues the run left running\n",
        );
        unsafe { libc::_exit(130) };
    }
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT, SIGTERM and SIGUSR2 (Slurm's warning before a time limit) end the process at once
/// with exit code 130 and a message; `main` installs this first thing, so that no signal finds
/// the default action (which would exit 143 for SIGTERM, silently).
pub fn install_signal_handlers() {
    // SAFETY: the handler only touches atomics, write(2) and _exit, all async-signal-safe.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR2] {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// From now on a signal asks the worker to stop at the next step or evaluation batch (the run
/// is checkpointed and requeued), and a second one exits at once.
pub fn defer_signals() {
    DEFER.store(true, Ordering::SeqCst);
}

/// Whether a stop signal arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Parses `120s`, `2m`, `500ms`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write e.g. 120s, 2m, 500ms"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}`; use ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The identity this process claims runs under: `host:pid:start`, the host, and the Slurm job
/// (`SLURM_ARRAY_JOB_ID_SLURM_ARRAY_TASK_ID` for an array task, else `SLURM_JOB_ID`).
/// `HARNESS_WORKER_HOST` replaces the host name (containers that share one, and tests that
/// play several machines on one host: a worker of another "host" is never declared dead by
/// PID, only by its lease).
pub fn identity() -> WorkerIdentity {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let slurm_job = match (env("SLURM_ARRAY_JOB_ID"), env("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => env("SLURM_JOB_ID"),
    };
    let real = environment::hostname();
    let mut id = environment::worker_id();
    let host = match env("HARNESS_WORKER_HOST") {
        Some(h) => {
            id = format!("{h}{}", id.strip_prefix(real.as_str()).unwrap_or(&id));
            h
        }
        None => real,
    };
    WorkerIdentity {
        id,
        host,
        slurm_job,
    }
}

/// What the worker loop does.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub db: PathBuf,
    /// Experiments to take runs from; empty = every experiment in the store.
    pub experiments: Vec<String>,
    /// Only these run keys (`harness run`: the spec's grid); None = any.
    pub only_keys: Option<Vec<String>>,
    /// Overrides each run's `device`.
    pub device: Option<String>,
    /// CPU threads; None = each run's `threads`.
    pub threads: Option<usize>,
    pub lease: Duration,
    pub max_runs: Option<usize>,
    /// How long to wait for other workers' running runs when nothing is queued.
    pub idle_exit: Duration,
    pub max_attempts: i64,
    /// Root of the checkpoint folders; None = [`checkpoint::default_root`] of `db`.
    pub checkpoint_dir: Option<PathBuf>,
    pub quiet: bool,
    /// Claim and finish runs without training them (benchmarks of the queue itself).
    pub dry_train: bool,
    /// Total runs for the grid progress bar (`harness run`), with those already finished.
    pub grid: Option<(u64, u64)>,
}

impl WorkerOptions {
    pub fn new(db: PathBuf) -> WorkerOptions {
        WorkerOptions {
            db,
            experiments: Vec::new(),
            only_keys: None,
            device: None,
            threads: None,
            lease: Duration::from_secs(120),
            max_runs: None,
            idle_exit: Duration::from_secs(60),
            max_attempts: 3,
            checkpoint_dir: None,
            quiet: false,
            dry_train: false,
            grid: None,
        }
    }

    pub fn checkpoint_root(&self) -> PathBuf {
        self.checkpoint_dir
            .clone()
            .unwrap_or_else(|| checkpoint::default_root(&self.db))
    }
}

#[derive(Debug, Default, Clone)]
pub struct WorkerSummary {
    pub ran: usize,
    pub done: usize,
    pub failed: usize,
    pub diverged: usize,
    /// Runs given up because another worker took their lease.
    pub lost: usize,
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
pub fn pretrained(c: &RunConfig) -> PathBuf {
    c.model.pretrained.clone().unwrap_or_default()
}

/// A tokenized task is reused by every run with the same (task, max_len, subsets, checkpoint).
type PreparedKey = (String, usize, Option<usize>, Option<usize>, PathBuf);

/// Data loaded once per process, on first use.
#[derive(Default)]
pub struct DataCache {
    pub tasks: HashMap<(PathBuf, String), TaskData>,
    pub corpora: HashMap<(PathBuf, String), Corpus>,
    prepared: HashMap<PreparedKey, PreparedTask>,
    tokenizers: HashMap<PathBuf, crate::model::tokenizer::BertTokenizer>,
    verified: std::collections::HashSet<(PathBuf, Option<usize>)>,
}

impl DataCache {
    /// Loads what `c` needs (and checks the pretrained model is there).
    pub fn load_for(&mut self, c: &RunConfig) -> Result<()> {
        let key = (c.data_dir.clone(), c.task.as_str().to_string());
        if c.model.kind == ModelKind::TransformerXl {
            if let Some(init) = c.train.init_from.as_ref().filter(|p| !p.is_file()) {
                bail!(
                    "{}: checkpoint not found (train.init_from); point it at a `{}` another run \
                     kept, or drop it to train from scratch",
                    init.display(),
                    crate::train::checkpoint::PHASE1
                );
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = self.corpora.entry(key) {
                let corpus = data::lm::load_corpus(&c.data_dir, c.task.as_str())
                    .with_context(|| format!("loading corpus `{}`", c.task.as_str()))?;
                slot.insert(corpus);
            }
            return Ok(());
        }
        let config_json = pretrained(c).join("config.json");
        if !config_json.is_file() {
            bail!(
                "pretrained model not found: {} does not exist. {}",
                config_json.display(),
                crate::data::models::how_to_get(&c.data_dir, &pretrained(c))
            );
        }
        let dir = pretrained(c);
        // Everything a run reads from the checkpoint, checked once before any run starts: a
        // corrupt file or an impossible `model.layers` is one message, not a failed run per
        // grid point.
        if self.verified.insert((dir.clone(), c.model.layers)) {
            crate::model::bert::verify_checkpoint(&dir, c.model.layers)?;
        }
        if !self.tokenizers.contains_key(&dir) {
            let tok = finetune::load_tokenizer(&dir)?;
            self.tokenizers.insert(dir.clone(), tok);
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.tasks.entry(key) {
            let data = data::load_task(&c.data_dir, c.task.as_str())
                .with_context(|| format!("loading task `{}`", c.task.as_str()))?;
            slot.insert(data);
        }
        Ok(())
    }
}

/// Renews the lease of the current run on its own timer (a tokio task on the runtime's worker
/// thread, so it runs while the main thread trains).
struct Heartbeat {
    current: Arc<Mutex<Option<Lease>>>,
    lost: Arc<AtomicBool>,
}

impl Heartbeat {
    fn start(rt: &Runtime, store: Arc<Store>, lease: Duration) -> Heartbeat {
        let current: Arc<Mutex<Option<Lease>>> = Arc::new(Mutex::new(None));
        let lost = Arc::new(AtomicBool::new(false));
        let (c, l) = (current.clone(), lost.clone());
        let every = (lease / 4).max(Duration::from_millis(50));
        rt.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let held = c.lock().expect("heartbeat lock").clone();
                let Some(held) = held else { continue };
                match store.renew(&held, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Only if the run is still the current one.
                        if c.lock().expect("heartbeat lock").as_ref() == Some(&held) {
                            l.store(true, Ordering::SeqCst);
                        }
                    }
                    Err(e) => eprintln!(
                        "warning: could not renew the lease of run {}: {e}; retrying",
                        held.key
                    ),
                }
            }
        });
        Heartbeat { current, lost }
    }

    fn hold(&self, lease: Option<Lease>) {
        self.lost.store(false, Ordering::SeqCst);
        *self.current.lock().expect("heartbeat lock") = lease;
    }

    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

struct StoreObserver<'a> {
    rt: &'a Runtime,
    store: &'a Store,
    lease: &'a Lease,
    heartbeat: &'a Heartbeat,
    owner: Option<CheckpointOwner>,
    buffer: Vec<MetricRow>,
    bar: &'a ProgressBar,
    last_dev: String,
}

impl StoreObserver<'_> {
    fn lost(&self) -> StoreError {
        StoreError::LostLease {
            key: self.lease.key.clone(),
            attempt: self.lease.attempt,
        }
    }
}

impl Observer for StoreObserver<'_> {
    fn on_step(&mut self, step: i64, total: i64, loss: f64) {
        self.bar.set_length(total as u64);
        self.bar.set_position(step as u64);
        self.bar
            .set_message(format!("train loss {loss:.4}{}", self.last_dev));
    }

    fn on_metrics(&mut self, rows: Vec<MetricRow>, flush: bool) -> Result<()> {
        if self.heartbeat.is_lost() {
            return Err(self.lost().into());
        }
        let dev: Vec<String> = rows
            .iter()
            .filter(|r| r.split != "train" && r.name != "loss")
            .map(|r| format!("{} {} {:.4}", r.split, r.name, r.value))
            .collect();
        if !dev.is_empty() {
            self.last_dev = format!(" | {}", dev.join(", "));
        }
        self.buffer.extend(rows);
        // A flush always goes to the store, empty or not: it is the fence before a checkpoint.
        if flush || self.buffer.len() >= 256 {
            let rows = std::mem::take(&mut self.buffer);
            self.rt
                .block_on(self.store.write_metrics(self.lease, &rows))?;
        }
        Ok(())
    }

    fn interrupted(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}

impl LmObserver for StoreObserver<'_> {
    fn on_start(&mut self, step: i64, total: i64) -> Result<()> {
        self.rt
            .block_on(self.store.delete_metrics_after(self.lease, step))?;
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

    fn checkpoint_owner(&self) -> Option<CheckpointOwner> {
        self.owner.clone()
    }

    fn on_checkpoint(&mut self, step: i64) -> Result<()> {
        self.rt
            .block_on(self.store.record_checkpoint(self.lease, step))?;
        Ok(())
    }
}

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
        bar.set_style(
            ProgressStyle::with_template(
                "grid {bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise} (eta {eta})  {msg}",
            )
            .expect("valid template"),
        );
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
        if STOP.load(Ordering::SeqCst) {
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
    let env_json = serde_json::to_string(&Environment::capture(&device_label))?;
    rt.block_on(store.mark_started(lease, &device_label, git_rev, &env_json))?;
    environment::reset_peak_rss();
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
        if c.model.kind == ModelKind::TransformerXl {
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
