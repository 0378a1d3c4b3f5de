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
//! of always predicting the training set's majority class (the degenerate-run threshold). `runs` lists every run of the experiment in grid order.

use crate::store::{RunRow, RunStatus, Store};
use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
    pub done: usize,
    pub failed: usize,
    pub diverged: usize,
    pub total: usize,
}

impl Counts {
    pub fn of(runs: &[RunRow]) -> Counts {
        let mut c = Counts {
            total: runs.len(),
            ..Default::default()
        };
        for r in runs {
            match RunStatus::parse(&r.status) {
                Some(RunStatus::Queued) => c.queued += 1,
                Some(RunStatus::Running) => c.running += 1,
                Some(RunStatus::Done) => c.done += 1,
                Some(RunStatus::Failed) => c.failed += 1,
                Some(RunStatus::Diverged) => c.diverged += 1,
                None => {}
            }
        }
        c
    }
}

fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The JSON document described in the module docs, for one experiment.
pub async fn experiment_json(store: &Store, name: &str) -> Result<Value> {
    let exp = store.experiment(name).await?;
    let runs = store.runs(name).await?;
    let leases: BTreeMap<String, crate::store::LeaseInfo> = store
        .leases(name)
        .await?
        .into_iter()
        .map(|l| (l.key.clone(), l))
        .collect();
    let mut results: BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>> = BTreeMap::new();
    for (key, r) in store.results(name).await? {
        results
            .entry(key)
            .or_default()
            .entry(r.split)
            .or_default()
            .insert(r.name, r.value);
    }
    let runs_json: Vec<Value> = runs
        .iter()
        .map(|r| {
            let res: Map<String, Value> = results
                .get(&r.run_key)
                .map(|splits| {
                    splits
                        .iter()
                        .map(|(split, m)| {
                            let inner: Map<String, Value> =
                                m.iter().map(|(k, v)| (k.clone(), num(*v))).collect();
                            (split.clone(), Value::Object(inner))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let lease = leases.get(&r.run_key);
            json!({
                "key": r.run_key,
                "task": r.task,
                "variant": r.variant,
                "seed": r.seed,
                "sweep": serde_json::from_str::<Value>(&r.sweep).unwrap_or(Value::Null),
                "status": r.status,
                "attempt": r.attempt,
                "device": r.device,
                "duration_s": r.duration_s.map(num),
                "steps": r.steps,
                "train_examples_per_s": r.train_examples_per_s.map(num),
                "peak_memory_bytes": r.peak_memory_bytes,
                "git_rev": r.git_rev,
                "error": r.error,
                "results": res,
                "worker": r.worker,
                "host": lease.and_then(|l| l.host.clone()).or(r.host.clone()),
                "slurm_job": lease.and_then(|l| l.slurm_job.clone()).or(r.slurm_job.clone()),
                "lease_age_s": lease.and_then(|l| l.lease_age_s).map(num),
                "lease_expires_in_s": lease.and_then(|l| l.lease_expires_in_s).map(num),
                "checkpoint_step": lease.and_then(|l| l.checkpoint_step),
            })
        })
        .collect();
    Ok(json!({
        "experiment": exp.name,
        "baseline": exp.baseline,
        "counts": Counts::of(&runs),
        "runs": runs_json,
    }))
}

pub async fn all_json(store: &Store) -> Result<Value> {
    let mut list = Vec::new();
    for e in store.experiments().await? {
        let runs = store.runs(&e.name).await?;
        list.push(
            json!({"name": e.name, "description": e.description, "counts": Counts::of(&runs)}),
        );
    }
    Ok(json!({ "experiments": list }))
}

fn counts_line(c: &Value) -> String {
    ["done", "diverged", "failed", "running", "queued", "total"]
        .iter()
        .map(|k| format!("{k} {}", c[k]))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_results(res: &Value) -> String {
    let Some(splits) = res.as_object() else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (split, metrics) in splits {
        let ms: Vec<String> = metrics
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "loss" && !k.starts_with("majority_"))
            .map(|(k, v)| match v.as_f64() {
                Some(x) => format!("{k}={x:.4}"),
                None => format!("{k}=nan"),
            })
            .collect();
        parts.push(format!("{split}: {}", ms.join(" ")));
    }
    parts.join("; ")
}

/// Renders rows as left-aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.iter().map(|s| s.to_string()).collect());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.clone()));
        out.push('\n');
    }
    out
}

pub fn render_experiment_table(doc: &Value) -> String {
    let mut out = format!(
        "experiment {} (baseline: {})\n{}\n",
        doc["experiment"].as_str().unwrap_or(""),
        doc["baseline"].as_str().unwrap_or(""),
        counts_line(&doc["counts"])
    );
    let runs = doc["runs"].as_array().cloned().unwrap_or_default();
    let finished: Vec<Vec<String>> = runs
        .iter()
        .filter(|r| matches!(r["status"].as_str(), Some("done" | "diverged" | "failed")))
        .map(|r| {
            let sweep = r["sweep"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let detail = if r["status"] == "done" {
                fmt_results(&r["results"])
            } else {
                r["error"].as_str().unwrap_or("").to_string()
            };
            vec![
                r["key"].as_str().unwrap_or("").to_string(),
                r["task"].as_str().unwrap_or("").to_string(),
                r["variant"].as_str().unwrap_or("").to_string(),
                r["seed"].to_string(),
                sweep,
                r["status"].as_str().unwrap_or("").to_string(),
                r["device"].as_str().unwrap_or("-").to_string(),
                r["duration_s"]
                    .as_f64()
                    .map_or("-".into(), |d| format!("{d:.1}s")),
                detail,
            ]
        })
        .collect();
    let running: Vec<Vec<String>> = runs
        .iter()
        .filter(|r| r["status"] == "running")
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            let secs = |k: &str| r[k].as_f64().map_or("-".into(), |s| format!("{s:.1}s"));
            vec![
                text("key"),
                format!("{}/{} seed {}", text("task"), text("variant"), r["seed"]),
                r["attempt"].to_string(),
                text("worker"),
                text("host"),
                text("slurm_job"),
                secs("lease_age_s"),
                secs("lease_expires_in_s"),
                r["checkpoint_step"]
                    .as_i64()
                    .map_or("-".into(), |s| s.to_string()),
            ]
        })
        .collect();
    if !running.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &[
                "running",
                "run",
                "attempt",
                "worker",
                "host",
                "slurm job",
                "lease age",
                "expires in",
                "checkpoint",
            ],
            &running,
        ));
    }
    if finished.is_empty() {
        out.push_str("no finished runs yet\n");
    } else {
        out.push('\n');
        out.push_str(&table(
            &[
                "key",
                "task",
                "variant",
                "seed",
                "sweep",
                "status",
                "device",
                "time",
                "final metrics",
            ],
            &finished,
        ));
    }
    out
}

pub fn render_all_table(doc: &Value) -> String {
    let rows: Vec<Vec<String>> = doc["experiments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                e["name"].as_str().unwrap_or("").to_string(),
                counts_line(&e["counts"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no experiments in this database yet; `harness run SPEC` starts one\n".into();
    }
    table(&["experiment", "runs"], &rows)
}
