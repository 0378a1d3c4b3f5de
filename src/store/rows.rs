//! Plain rows passed out of the store.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Done,
    Failed,
    Diverged,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Done,
        RunStatus::Failed,
        RunStatus::Diverged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Diverged => "diverged",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExperimentRow {
    pub name: String,
    pub description: Option<String>,
    pub spec_path: String,
    pub spec_text: String,
    pub overrides: String,
    pub spec_hash: String,
    pub baseline: String,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct RunRow {
    pub run_key: String,
    pub ordinal: i64,
    pub task: String,
    pub variant: String,
    pub seed: i64,
    pub sweep: String,
    pub config: String,
    pub status: String,
    pub attempt: i64,
    pub worker: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_s: Option<f64>,
    pub device: Option<String>,
    pub git_rev: Option<String>,
    pub error: Option<String>,
    pub steps: Option<i64>,
    pub train_examples_per_s: Option<f64>,
    pub peak_memory_bytes: Option<i64>,
    /// The host of the worker that holds or last held the run.
    pub host: Option<String>,
    /// The Slurm job (`JOB_TASK`) of that worker, when it ran under Slurm.
    pub slurm_job: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub step: i64,
    pub split: String,
    pub name: String,
    pub value: f64,
    pub phase: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRow {
    pub split: String,
    pub name: String,
    pub value: f64,
}
