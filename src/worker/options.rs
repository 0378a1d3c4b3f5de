//! What the worker loop does ([`WorkerOptions`]) and what it did ([`WorkerSummary`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::train::checkpoint;

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
