//! `harness run --workers N`: the worker processes, their relayed messages and the one
//! progress bar of the grid.

use super::RunOptions;
use crate::spec::{LoadedSpec, RunPlan};
use crate::store::Store;
use crate::worker;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::runtime::Runtime;

/// How the worker processes ended.
pub(super) struct ProcessesEnd {
    /// A stop signal was passed on, or a worker stopped on one.
    pub(super) interrupted: bool,
    /// A worker exited with a status other than 0 (done), 1 (runs failed) or 130 (stopped).
    pub(super) worker_failed: bool,
}

/// Starts `opts.workers` `harness worker` processes for the experiment, relays their messages
/// (prefixed `wN:`), shows one progress bar polled from the store, and waits for them. A stop
/// signal is passed on to every worker (they checkpoint, release their leases and exit 130).
pub(super) fn run_worker_processes(
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
    let bar = grid_bar(plans.len() as u64, opts.quiet, finished as u64);
    let mut children = Vec::new();
    let mut relays = Vec::new();
    for i in 0..n {
        let mut cmd = worker_command(&exe, &spec.name, opts, i, per_worker);
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
        show_progress(rt, store, &spec.name, plans, &bar, &codes);
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

/// The one progress bar of the grid: runs finished out of `runs`, from `finished` on.
fn grid_bar(runs: u64, quiet: bool, finished: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(runs),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(crate::worker::grid_bar_style());
    bar.set_position(finished);
    bar
}

/// The `harness worker` command of worker `i` for the experiment `name`: its device (the
/// listed ones in turn), its share of the threads on CPU and of `--max-runs`.
fn worker_command(
    exe: &Path,
    name: &str,
    opts: &RunOptions,
    i: usize,
    per_worker: usize,
) -> Command {
    let n = opts.workers;
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .arg(name)
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
    cmd
}

/// Polls the store once: the grid's runs finished (the bar's position) and running, and how
/// many workers are still alive.
fn show_progress(
    rt: &Runtime,
    store: &Store,
    name: &str,
    plans: &[RunPlan],
    bar: &ProgressBar,
    codes: &[Option<i32>],
) {
    let n = codes.len();
    if let Ok(rows) = rt.block_on(store.runs(name)) {
        let keys: Vec<&str> = plans.iter().map(|p| p.key.as_str()).collect();
        let p = crate::analysis::Progress::of(
            rows.iter()
                .filter(|r| keys.contains(&r.run_key.as_str()))
                .map(|r| r.status.as_str()),
        );
        let running = p.running;
        bar.set_position(p.finished() as u64);
        let alive = codes.iter().filter(|c| c.is_none()).count();
        bar.set_message(format!("{running} running, {alive}/{n} workers alive"));
    }
}
