//! The claim loop: reap expired leases, claim the next queued run, hand it to [`run_one`],
//! count what it ended as, until nothing is left to claim.

use super::observer::Heartbeat;
use super::progress::Bars;
use super::run_one::{run_one, Context, RunEnd};
use super::{identity, is_lost_lease, stop_requested, DataCache, WorkerOptions, WorkerSummary};
use crate::environment;
use crate::store::{RunStatus, Store};
use anyhow::Result;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Claims and runs runs until none is left to claim (see the module documentation). `store`
/// is opened by the caller on a runtime with at least one worker thread.
pub fn work(
    rt: &Runtime,
    store: Arc<Store>,
    opts: &WorkerOptions,
    data: &mut DataCache,
) -> Result<WorkerSummary> {
    let me = identity();
    let bars = Bars::new(opts.quiet, opts.grid);
    let ctx = Context {
        rt,
        store: &store,
        opts,
        heartbeat: Heartbeat::start(rt, store.clone(), opts.lease),
        checkpoint_root: opts.checkpoint_root(),
        git_rev: environment::git_revision(),
        run_bar: &bars.run,
    };
    let mut devices: HashMap<String, tch::Device> = HashMap::new();
    let mut summary = WorkerSummary::default();
    let mut idle_since: Option<Instant> = None;
    let poll = (opts.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));

    while opts.max_runs.is_none_or(|m| summary.ran < m) {
        if stop_requested() {
            summary.interrupted = true;
            bars.say(
                "interrupted between runs: none was in progress; rerun to finish the grid".into(),
            );
            break;
        }
        for r in rt.block_on(store.reap(
            &opts.experiments,
            opts.max_attempts,
            environment::worker_is_dead,
        ))? {
            bars.say(format!(
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
        ctx.heartbeat.hold(Some(claim.lease.clone()));
        let outcome = run_one(&ctx, &claim, data, &mut devices);
        ctx.heartbeat.hold(None);
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
                bars.say(line);
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
        bars.finished(line);
    }
    bars.clear();
    Ok(summary)
}
