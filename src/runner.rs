//! `harness run`: registers the spec's grid in the store, then runs what is not done yet, in
//! this process or in `--workers N` local worker processes (`harness worker`), and shows one
//! progress view. See `worker` for claiming, leases, checkpoints and signals.

use crate::environment;
use crate::spec::{LoadedSpec, RunPlan};
use crate::store::{self, ExperimentRow, NewRun, RunStatus, Store};
use crate::worker::{self, DataCache, WorkerOptions};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

pub use crate::worker::{finetune_settings, pretrained};

#[derive(Debug, Clone)]
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
    /// Local worker processes (1 = run in this process).
    pub workers: usize,
    /// Devices of the workers, in turn (`--devices cuda:0,cuda:1`).
    pub devices: Vec<String>,
    pub lease: Duration,
    pub max_attempts: i64,
    pub checkpoint_dir: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            db: PathBuf::from(store::DEFAULT_DB),
            device: None,
            retry_failed: false,
            max_runs: None,
            quiet: false,
            workers: 1,
            devices: Vec::new(),
            lease: Duration::from_secs(120),
            max_attempts: 3,
            checkpoint_dir: None,
        }
    }
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

/// A runtime whose worker thread drives the store's I/O and the lease timer while the calling
/// thread trains.
pub fn runtime() -> Result<Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?)
}

/// The experiment row and the runs of a loaded spec.
pub fn grid_rows(loaded: &LoadedSpec, plans: &[RunPlan]) -> Result<(ExperimentRow, Vec<NewRun>)> {
    let spec = &loaded.spec;
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
                task: p.task.to_string(),
                variant: p.variant.clone(),
                seed: p.seed,
                sweep_json: serde_json::to_string(&p.sweep)?,
                config_json: serde_json::to_string(&p.config)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((experiment, new_runs))
}

/// `harness enqueue`: registers the grid and runs nothing. Returns (runs in the grid, new).
pub fn enqueue(
    loaded: &LoadedSpec,
    plans: &[RunPlan],
    db: &std::path::Path,
) -> Result<(usize, u64)> {
    let rt = runtime()?;
    let store = rt.block_on(Store::open(db))?;
    let (experiment, runs) = grid_rows(loaded, plans)?;
    let added = rt.block_on(store.register(&experiment, &runs))?;
    rt.block_on(store.close());
    Ok((runs.len(), added))
}

/// Runs every run of the grid that is not done yet.
pub fn run(loaded: &LoadedSpec, plans: &[RunPlan], opts: &RunOptions) -> Result<GridSummary> {
    let spec = &loaded.spec;
    // Before anything is written: the model and every task's data are there.
    let mut data = DataCache::default();
    for plan in plans {
        data.load_for(&plan.config)?;
    }
    let requested_device = opts
        .device
        .clone()
        .unwrap_or_else(|| spec.device.to_string());
    let device = crate::device::resolve(&requested_device)?;
    if let Some(warning) = crate::device::auto_fallback_warning(&requested_device, device) {
        eprintln!("{warning}");
    }
    if let Some(threads) = spec.threads {
        tch::set_num_threads(threads as i32);
    }

    let rt = runtime()?;
    let store = Arc::new(rt.block_on(Store::open(&opts.db))?);
    let (experiment, new_runs) = grid_rows(loaded, plans)?;
    let added = rt.block_on(store.register(&experiment, &new_runs))?;
    let names = vec![spec.name.clone()];
    let reaped = rt.block_on(store.reap(&names, opts.max_attempts, environment::worker_is_dead))?;
    let requeued = reaped
        .iter()
        .filter(|r| r.status == RunStatus::Queued)
        .count();
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
    let workers = opts.workers.max(1);
    let how = if workers > 1 {
        format!("{workers} worker processes")
    } else {
        format!(
            "device {}, {} threads",
            crate::device::label(device),
            tch::get_num_threads()
        )
    };
    eprintln!(
        "experiment {}: {} runs in the grid ({} new, {} finished, {} queued{}); {how}; database {}",
        spec.name,
        plans.len(),
        added,
        finished,
        count(&rows, RunStatus::Queued),
        if requeued == 0 {
            String::new()
        } else {
            format!(", {requeued} requeued from an interrupted worker")
        },
        store::display_db(&opts.db)
    );

    worker::defer_signals();
    let mut summary = GridSummary {
        total: plans.len(),
        ..Default::default()
    };
    if workers > 1 {
        drop(data);
        let status = run_worker_processes(&rt, &store, loaded, plans, opts, finished)?;
        let rows = rt.block_on(store.runs(&spec.name))?;
        let after = |st| count(&rows, st);
        summary.done = after(RunStatus::Done);
        summary.diverged = after(RunStatus::Diverged);
        summary.failed = after(RunStatus::Failed);
        summary.ran = (summary.done + summary.diverged + summary.failed).saturating_sub(finished);
        summary.interrupted = status.interrupted;
        summary.queued = after(RunStatus::Queued) + after(RunStatus::Running);
        if status.worker_failed && summary.failed == 0 && summary.queued > 0 {
            anyhow::bail!(
                "a worker process failed (its messages are above); {} runs are left",
                summary.queued
            );
        }
        rt.block_on(
            Arc::try_unwrap(store)
                .map_err(|_| anyhow::anyhow!("store in use"))?
                .close(),
        );
        return Ok(summary);
    }

    let mut wopts = WorkerOptions::new(opts.db.clone());
    wopts.experiments = names;
    wopts.only_keys = Some(keys.clone());
    wopts.device = Some(requested_device);
    wopts.threads = None;
    wopts.lease = opts.lease;
    wopts.max_runs = opts.max_runs;
    wopts.idle_exit = Duration::ZERO;
    wopts.max_attempts = opts.max_attempts;
    wopts.checkpoint_dir = opts.checkpoint_dir.clone();
    wopts.quiet = opts.quiet;
    wopts.grid = Some((plans.len() as u64, finished as u64));
    let w = worker::work(&rt, store.clone(), &wopts, &mut data)?;
    summary.ran = w.ran;
    summary.done = w.done;
    summary.failed = w.failed;
    summary.diverged = w.diverged;
    summary.interrupted = w.interrupted;
    let rows = rt.block_on(store.runs(&spec.name))?;
    summary.queued = count(&rows, RunStatus::Queued) + count(&rows, RunStatus::Running);
    if let Ok(store) = Arc::try_unwrap(store) {
        rt.block_on(store.close());
    }
    Ok(summary)
}

struct ProcessesEnd {
    interrupted: bool,
    worker_failed: bool,
}

/// Starts `opts.workers` `harness worker` processes for the experiment, relays their messages
/// (prefixed `wN:`), shows one progress bar polled from the store, and waits for them. A stop
/// signal is passed on to every worker (they checkpoint, release their leases and exit 130).
fn run_worker_processes(
    rt: &Runtime,
    store: &Store,
    loaded: &LoadedSpec,
    plans: &[RunPlan],
    opts: &RunOptions,
    finished: usize,
) -> Result<ProcessesEnd> {
    let spec = &loaded.spec;
    let n = opts.workers;
    let exe = std::env::current_exe().context("locating the harness binary")?;
    // On CPU the threads are split between the workers; one worker per listed device otherwise.
    let total_threads = spec
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let per_worker = (total_threads / n).max(1);
    let bar = ProgressBar::with_draw_target(
        Some(plans.len() as u64),
        if opts.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "grid {bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise} (eta {eta})  {msg}",
        )
        .expect("valid template"),
    );
    bar.set_position(finished as u64);
    let mut children = Vec::new();
    let mut relays = Vec::new();
    for i in 0..n {
        let mut cmd = Command::new(&exe);
        cmd.arg("worker")
            .arg(&spec.name)
            .arg("--db")
            .arg(&opts.db)
            .arg("--lease")
            .arg(format!("{}ms", opts.lease.as_millis()))
            .arg("--max-attempts")
            .arg(opts.max_attempts.to_string())
            .arg("--quiet");
        let device = if opts.devices.is_empty() {
            opts.device.clone()
        } else {
            Some(opts.devices[i % opts.devices.len()].clone())
        };
        if let Some(d) = &device {
            cmd.arg("--device").arg(d);
        }
        if device.as_deref().is_none_or(|d| d == "cpu") {
            cmd.arg("--threads").arg(per_worker.to_string());
        }
        if let Some(dir) = &opts.checkpoint_dir {
            cmd.arg("--checkpoint-dir").arg(dir);
        }
        if let Some(m) = opts.max_runs {
            // Each worker stops after its share.
            cmd.arg("--max-runs").arg(m.div_ceil(n).to_string());
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting worker {i} ({})", exe.display()))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let bar = bar.clone();
        relays.push(std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(|l| l.ok())
            {
                bar.suspend(|| eprintln!("w{i}: {line}"));
            }
        }));
        children.push(child);
    }
    let mut forwarded = false;
    let mut codes: Vec<Option<i32>> = vec![None; n];
    loop {
        if worker::stop_requested() && !forwarded {
            for c in &children {
                unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            }
            forwarded = true;
        }
        for (i, c) in children.iter_mut().enumerate() {
            if codes[i].is_none() {
                if let Some(st) = c.try_wait()? {
                    codes[i] = Some(st.code().unwrap_or(137));
                }
            }
        }
        if let Ok(rows) = rt.block_on(store.runs(&spec.name)) {
            let keys: Vec<&str> = plans.iter().map(|p| p.key.as_str()).collect();
            let mine = rows.iter().filter(|r| keys.contains(&r.run_key.as_str()));
            let (mut fin, mut running) = (0, 0);
            for r in mine {
                match r.status.as_str() {
                    "done" | "failed" | "diverged" => fin += 1,
                    "running" => running += 1,
                    _ => {}
                }
            }
            bar.set_position(fin);
            let alive = codes.iter().filter(|c| c.is_none()).count();
            bar.set_message(format!("{running} running, {alive}/{n} workers alive"));
        }
        if codes.iter().all(|c| c.is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for r in relays {
        let _ = r.join();
    }
    bar.finish_and_clear();
    let interrupted = forwarded || codes.contains(&Some(130));
    let worker_failed = codes
        .iter()
        .any(|c| !matches!(c, Some(0) | Some(1) | Some(130)));
    for (i, c) in codes.iter().enumerate() {
        if !matches!(c, Some(0) | Some(130)) {
            eprintln!("worker w{i} exited with status {}", c.unwrap_or(-1));
        }
    }
    Ok(ProcessesEnd {
        interrupted,
        worker_failed,
    })
}
