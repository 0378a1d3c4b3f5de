//! `harness status`: counts of runs by status and the final metrics of finished runs.
//!
//! JSON output (stable, for scripts), for one experiment:
//! ```json
//! {"experiment": "name", "baseline": "baseline",
//!  "counts": {"queued": 0, "running": 0, "done": 10, "failed": 0, "diverged": 0, "total": 10},
//!  "runs": [{"key": "…", "task": "spam", "variant": "baseline", "seed": 1, "sweep": {},
//!            "status": "done", "attempt": 1, "device": "cpu", "duration_s": 40.1, "steps": 60,
//!            "train_examples_per_s": 31.2, "peak_memory_bytes": 1234, "git_rev": "…",
//!            "error": null, "results": {"dev": {"acc": 0.97, "f1": 0.95, "loss": 0.1}},
//!            "worker": "host:pid:start", "host": "host", "slurm_job": "123_4",
//!            "lease_age_s": 3.2, "lease_expires_in_s": 116.8, "checkpoint_step": 300}]}
//! ```
//! `worker`, `host` and `slurm_job` name the worker that holds the run (or last held it);
//! `lease_age_s` (seconds since its worker last renewed the lease, on the database's clock) and
//! `lease_expires_in_s` are null unless the run is running; `attempt` counts claims.
//! Without an experiment name: `{"experiments": [{"name": …, "description": …, "counts": {…}}]}`.
//! Non-finite values are `null`. `results` also holds `majority_<metric>` per dev split: the score
//! of always predicting the training set's majority class (the degenerate-run threshold). `runs` lists every
//! run of the experiment in grid order. The JSON is the serde form of [`ExperimentStatus`] and
//! [`Overview`]; the tables are drawn from the same values.

use crate::analysis::load;
use crate::analysis::{ExperimentData, Progress};
use crate::cli::Format;
use crate::output::Table;
use crate::store::{LeaseInfo, RunRow, RunStatus, Store};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Final results of a run: split → name → value.
pub type Results = BTreeMap<String, BTreeMap<String, f64>>;

/// `harness status EXPERIMENT`. Fields of these types are in alphabetical order, the order of
/// the JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentStatus {
    pub baseline: String,
    pub counts: Progress,
    pub experiment: String,
    /// Every run, in grid order.
    pub runs: Vec<RunState>,
}

/// One run: its row, its final results and, while a worker holds it, its lease.
#[derive(Debug, Clone, Serialize)]
pub struct RunState {
    pub attempt: i64,
    pub checkpoint_step: Option<i64>,
    pub device: Option<String>,
    pub duration_s: Option<f64>,
    pub error: Option<String>,
    pub git_rev: Option<String>,
    pub host: Option<String>,
    pub key: String,
    pub lease_age_s: Option<f64>,
    pub lease_expires_in_s: Option<f64>,
    pub peak_memory_bytes: Option<i64>,
    /// The precision the run trained in (`train.precision` resolved on its device), from its
    /// recorded environment; absent for runs recorded before it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    pub results: Results,
    pub seed: i64,
    pub slurm_job: Option<String>,
    pub status: String,
    pub steps: Option<i64>,
    /// The sweep values as stored (a JSON object; `null` where unreadable).
    pub sweep: Value,
    pub task: String,
    pub train_examples_per_s: Option<f64>,
    pub variant: String,
    pub worker: Option<String>,
}

/// `harness status` without an experiment: every experiment's counts.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub experiments: Vec<ExperimentCounts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExperimentCounts {
    pub counts: Progress,
    pub description: Option<String>,
    pub name: String,
}

impl ExperimentStatus {
    /// The status of `data` with the current leases of its runs.
    pub fn new(data: &ExperimentData, leases: Vec<LeaseInfo>) -> ExperimentStatus {
        let leases: BTreeMap<String, LeaseInfo> =
            leases.into_iter().map(|l| (l.key.clone(), l)).collect();
        let runs = data
            .runs
            .iter()
            .map(|r| RunState::new(r, data, leases.get(&r.run_key)))
            .collect();
        ExperimentStatus {
            baseline: data.baseline.clone(),
            counts: Progress::of(data.runs.iter().map(|r| r.status.as_str())),
            experiment: data.name.clone(),
            runs,
        }
    }
}

impl RunState {
    fn new(r: &RunRow, data: &ExperimentData, lease: Option<&LeaseInfo>) -> RunState {
        let mut results = Results::new();
        for row in data.results.get(&r.run_key).into_iter().flatten() {
            let split = results.entry(row.split.clone()).or_default();
            split.insert(row.name.clone(), row.value);
        }
        RunState {
            attempt: r.attempt,
            checkpoint_step: lease.and_then(|l| l.checkpoint_step),
            device: r.device.clone(),
            duration_s: r.duration_s,
            error: r.error.clone(),
            git_rev: r.git_rev.clone(),
            host: lease.and_then(|l| l.host.clone()).or(r.host.clone()),
            key: r.run_key.clone(),
            lease_age_s: lease.and_then(|l| l.lease_age_s),
            lease_expires_in_s: lease.and_then(|l| l.lease_expires_in_s),
            peak_memory_bytes: r.peak_memory_bytes,
            precision: (data.environments.get(&r.run_key))
                .and_then(|e| Some(e.precision?.as_str().to_string())),
            results,
            seed: r.seed,
            slurm_job: lease
                .and_then(|l| l.slurm_job.clone())
                .or(r.slurm_job.clone()),
            status: r.status.clone(),
            steps: r.steps,
            sweep: serde_json::from_str(&r.sweep).unwrap_or(Value::Null),
            task: r.task.clone(),
            train_examples_per_s: r.train_examples_per_s,
            variant: r.variant.clone(),
            worker: r.worker.clone(),
        }
    }

    fn is(&self, status: RunStatus) -> bool {
        self.status == status.as_str()
    }
}

/// `harness status [EXPERIMENT]`: reads the database (read-only) and renders the status.
pub fn status_command(
    db: &Path,
    experiment: Option<&str>,
    format: Format,
) -> anyhow::Result<String> {
    Ok(match experiment {
        Some(name) => {
            let s = load::with_store(db, async |store: &Store| {
                let data = ExperimentData::load(store, name, false).await?;
                Ok(ExperimentStatus::new(&data, store.leases(name).await?))
            })?;
            match format {
                Format::Json => crate::output::json(&s)?,
                Format::Table => render_experiment_table(&s),
            }
        }
        None => {
            let o = load::with_store(db, async |store: &Store| {
                let mut experiments = Vec::new();
                for e in store.experiments().await? {
                    let runs = store.runs(&e.name).await?;
                    experiments.push(ExperimentCounts {
                        counts: Progress::of(runs.iter().map(|r| r.status.as_str())),
                        description: e.description,
                        name: e.name,
                    });
                }
                Ok(Overview { experiments })
            })?;
            match format {
                Format::Json => crate::output::json(&o)?,
                Format::Table => render_all_table(&o),
            }
        }
    })
}

/// Seconds with one decimal and a unit, `-` where unknown.
fn seconds(s: Option<f64>) -> String {
    s.filter(|s| s.is_finite())
        .map_or("-".into(), |s| format!("{s:.1}s"))
}

fn text(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

/// `dev: acc=0.9700 f1=0.9500; train: …`, losses and majority-class baselines left out.
fn final_metrics(results: &Results) -> String {
    let split = |(split, metrics): (&String, &BTreeMap<String, f64>)| {
        let shown: Vec<String> = metrics
            .iter()
            .filter(|(k, _)| k.as_str() != "loss" && !k.starts_with("majority_"))
            .map(|(k, x)| match x.is_finite() {
                true => format!("{k}={x:.4}"),
                false => format!("{k}=nan"),
            })
            .collect();
        format!("{split}: {}", shown.join(" "))
    };
    results.iter().map(split).collect::<Vec<_>>().join("; ")
}

pub fn render_experiment_table(s: &ExperimentStatus) -> String {
    let mut out = format!(
        "experiment {} (baseline: {})\n{}\n",
        s.experiment,
        s.baseline,
        s.counts.line()
    );
    let mut running = Table::left(&[
        "running",
        "run",
        "attempt",
        "worker",
        "host",
        "slurm job",
        "lease age",
        "expires in",
        "checkpoint",
    ]);
    for r in s.runs.iter().filter(|r| r.is(RunStatus::Running)) {
        running.push(vec![
            r.key.clone(),
            format!("{}/{} seed {}", r.task, r.variant, r.seed),
            r.attempt.to_string(),
            text(&r.worker),
            text(&r.host),
            text(&r.slurm_job),
            seconds(r.lease_age_s),
            seconds(r.lease_expires_in_s),
            r.checkpoint_step.map_or("-".into(), |s| s.to_string()),
        ]);
    }
    let mut finished = Table::left(&[
        "key",
        "task",
        "variant",
        "seed",
        "sweep",
        "status",
        "device",
        "time",
        "final metrics",
    ]);
    let ended = [RunStatus::Done, RunStatus::Diverged, RunStatus::Failed];
    for r in s.runs.iter().filter(|r| ended.iter().any(|&e| r.is(e))) {
        let sweep = r.sweep.as_object().map_or(String::new(), |m| {
            let values: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            values.join(" ")
        });
        finished.push(vec![
            r.key.clone(),
            r.task.clone(),
            r.variant.clone(),
            r.seed.to_string(),
            sweep,
            r.status.clone(),
            text(&r.device),
            seconds(r.duration_s),
            match r.is(RunStatus::Done) {
                true => final_metrics(&r.results),
                false => r.error.clone().unwrap_or_default(),
            },
        ]);
    }
    if !running.rows.is_empty() {
        out.push('\n');
        out.push_str(&running.text());
    }
    if finished.rows.is_empty() {
        out.push_str("no finished runs yet\n");
    } else {
        out.push('\n');
        out.push_str(&finished.text());
    }
    out
}

pub fn render_all_table(o: &Overview) -> String {
    if o.experiments.is_empty() {
        return "no experiments in this database yet; `harness run SPEC` starts one\n".into();
    }
    let mut t = Table::left(&["experiment", "runs"]);
    for e in &o.experiments {
        t.push(vec![e.name.clone(), e.counts.line()]);
    }
    t.text()
}
