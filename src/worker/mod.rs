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

mod claim_loop;
mod data_cache;
mod identity;
mod observer;
mod options;
mod progress;
mod run_one;
mod signals;

pub use claim_loop::work;
pub use data_cache::{finetune_settings, pretrained, DataCache};
pub use identity::{identity, parse_duration};
pub use options::{WorkerOptions, WorkerSummary};
pub(crate) use progress::grid_bar_style;
pub use signals::{defer_signals, install_signal_handlers, stop_requested};

use crate::store::StoreError;

/// Whether `e` says the lease was lost.
pub fn is_lost_lease(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(|s| matches!(s, StoreError::LostLease { .. }))
    })
}
