//! `harness run`: registers the spec's grid in the store, then runs what is not done yet, in
//! this process or in `--workers N` local worker processes (`harness worker`), and shows one
//! progress view. See `worker` for claiming, leases, checkpoints and signals.

use crate::analysis::Progress;
use crate::environment;
use crate::spec::{LoadedSpec, RunPlan};
use crate::store::{self, ExperimentRow, NewRun, RunStatus, Store};
use crate::worker::{self, DataCache, WorkerOptions};
use anyhow::Result;
use processes::run_worker_processes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

mod processes;

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
    let (mut data, requested_device, device) = prepare(loaded, plans, opts)?;
    let grid = register(loaded, plans, opts, device)?;
    worker::defer_signals();
    let summary = GridSummary {
        total: plans.len(),
        ..Default::default()
    };
    if opts.workers.max(1) > 1 {
        drop(data);
        return with_worker_processes(loaded, plans, opts, grid, summary);
    }
    in_this_process(
        loaded,
        plans,
        opts,
        grid,
        summary,
        requested_device,
        &mut data,
    )
}

/// Before anything is written: the model and every task's data are there, the device is
/// resolved and the threads are set. Returns the data, the device asked for and the one used.
fn prepare(
    loaded: &LoadedSpec,
    plans: &[RunPlan],
    opts: &RunOptions,
) -> Result<(DataCache, String, tch::Device)> {
    let spec = &loaded.spec;
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

    Ok((data, requested_device, device))
}

/// The grid as the store holds it once registered: the store, the runtime driving it, the
/// run keys of the plans, and how many of them had finished before this `harness run`.
struct Registered {
    rt: Runtime,
    store: Arc<Store>,
    names: Vec<String>,
    keys: Vec<String>,
    finished: usize,
}

/// The statuses of the runs `keys` that `rows` holds, counted.
fn progress(rows: &[crate::store::RunRow], keys: &[String]) -> Progress {
    Progress::of(
        rows.iter()
            .filter(|r| keys.contains(&r.run_key))
            .map(|r| r.status.as_str()),
    )
}

/// Registers the grid, reaps runs of workers that are gone, requeues failed runs when asked,
/// and says what is there to run.
fn register(
    loaded: &LoadedSpec,
    plans: &[RunPlan],
    opts: &RunOptions,
    device: tch::Device,
) -> Result<Registered> {
    let spec = &loaded.spec;
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
    let before = progress(&rt.block_on(store.runs(&spec.name))?, &keys);
    let finished = before.finished();
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
        before.queued,
        if requeued == 0 {
            String::new()
        } else {
            format!(", {requeued} requeued from an interrupted worker")
        },
        store::display_db(&opts.db)
    );

    Ok(Registered {
        rt,
        store,
        names,
        keys,
        finished,
    })
}

/// `--workers N` (N > 1): the runs are left to N `harness worker` processes; the summary is
/// read back from the store.
fn with_worker_processes(
    loaded: &LoadedSpec,
    plans: &[RunPlan],
    opts: &RunOptions,
    grid: Registered,
    mut summary: GridSummary,
) -> Result<GridSummary> {
    let spec = &loaded.spec;
    let Registered {
        rt,
        store,
        keys,
        finished,
        ..
    } = grid;
    let status = run_worker_processes(&rt, &store, loaded, plans, opts, finished)?;
    let after = progress(&rt.block_on(store.runs(&spec.name))?, &keys);
    summary.done = after.done;
    summary.diverged = after.diverged;
    summary.failed = after.failed;
    summary.ran = after.finished().saturating_sub(finished);
    summary.interrupted = status.interrupted;
    summary.queued = after.queued + after.running;
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
    Ok(summary)
}

/// One worker, in this process, on the grid's runs.
fn in_this_process(
    loaded: &LoadedSpec,
    plans: &[RunPlan],
    opts: &RunOptions,
    grid: Registered,
    mut summary: GridSummary,
    requested_device: String,
    data: &mut DataCache,
) -> Result<GridSummary> {
    let spec = &loaded.spec;
    let Registered {
        rt,
        store,
        names,
        keys,
        finished,
    } = grid;
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
    let w = worker::work(&rt, store.clone(), &wopts, data)?;
    summary.ran = w.ran;
    summary.done = w.done;
    summary.failed = w.failed;
    summary.diverged = w.diverged;
    summary.interrupted = w.interrupted;
    let rows = rt.block_on(store.runs(&spec.name))?;
    let after = progress(&rows, &keys);
    summary.queued = after.queued + after.running;
    if let Ok(store) = Arc::try_unwrap(store) {
        rt.block_on(store.close());
    }
    Ok(summary)
}
