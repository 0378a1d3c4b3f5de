//! Synthetic experiments written through the real `Store` API (register, claim, metrics, finish),
//! for the tests and the benchmark of reports and comparisons. No training involved.

use crate::data::metrics::{self, Predictions};
use crate::data::{Label, TaskKind};
use crate::store::{
    ExampleValues, ExperimentRow, Finish, MetricRow, NewRun, ResultRow, RunStatus,
    SplitPredictions, Store,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One run and what it wrote.
#[derive(Debug, Clone)]
pub struct SyntheticRun {
    pub task: String,
    pub variant: String,
    pub seed: u64,
    /// JSON object of sweep values (`{}` without a sweep).
    pub sweep_json: String,
    pub status: RunStatus,
    /// Final results: (split, name, value).
    pub results: Vec<(String, String, f64)>,
    /// Per-step metrics.
    pub curve: Vec<MetricRow>,
    pub device: String,
    pub duration_s: f64,
    pub steps: i64,
    pub error: Option<String>,
    /// Per-example predictions of the final evaluation (written for done runs only).
    pub predictions: Vec<SplitPredictions>,
}

impl SyntheticRun {
    /// A done run with the given dev results and no curve.
    pub fn done(task: &str, variant: &str, seed: u64, dev: &[(&str, f64)]) -> SyntheticRun {
        SyntheticRun {
            task: task.into(),
            variant: variant.into(),
            seed,
            sweep_json: "{}".into(),
            status: RunStatus::Done,
            results: dev
                .iter()
                .map(|(n, v)| ("dev".to_string(), n.to_string(), *v))
                .collect(),
            curve: Vec::new(),
            device: "cpu".into(),
            duration_s: 10.0 + seed as f64,
            steps: 100,
            error: None,
            predictions: Vec::new(),
        }
    }

    /// Same run with per-example predictions on `split`, and the task's metrics on that split
    /// computed from them (`data::metrics`), replacing results of the same names.
    pub fn with_predictions(mut self, split: &str, values: ExampleValues) -> SyntheticRun {
        let (kind, preds, gold) = match &values {
            ExampleValues::Classes { predicted, gold } => {
                let top = predicted.iter().chain(gold).copied().max().unwrap_or(1) as usize;
                (
                    TaskKind::Classification {
                        num_labels: (top + 1).max(2),
                    },
                    Predictions::Classes(predicted.iter().map(|&c| c as usize).collect()),
                    gold.iter()
                        .map(|&c| Label::Class(c as usize))
                        .collect::<Vec<_>>(),
                )
            }
            ExampleValues::Scores { predicted, gold } => (
                TaskKind::Regression,
                Predictions::Scores(predicted.clone()),
                gold.iter().map(|&s| Label::Score(s)).collect(),
            ),
        };
        for (name, value) in metrics::evaluate(&self.task, &kind, &preds, &gold) {
            self.results.retain(|(s, n, _)| !(s == split && *n == name));
            self.results.push((split.to_string(), name, value));
        }
        self.predictions.push(SplitPredictions {
            split: split.to_string(),
            values,
        });
        self
    }

    /// Same run with another status (its results are still written for done runs only).
    pub fn with_status(mut self, status: RunStatus, error: Option<&str>) -> SyntheticRun {
        self.status = status;
        self.error = error.map(str::to_string);
        self
    }

    fn key(&self, ordinal: usize) -> String {
        format!("{ordinal:04}-{}-{}-s{}", self.task, self.variant, self.seed)
    }
}

/// Writes `runs` as experiment `name` (grid order = slice order). Queued runs stay queued;
/// running runs are claimed and left running; the others are finished with their status.
pub async fn write_experiment(
    store: &Store,
    name: &str,
    baseline: &str,
    description: Option<&str>,
    runs: &[SyntheticRun],
) -> crate::store::Result<()> {
    write_experiment_with_spec(
        store,
        name,
        baseline,
        description,
        &format!("name: {name}\n"),
        runs,
    )
    .await
}

/// As [`write_experiment`], storing `spec_text` as the experiment's spec (no overrides).
pub async fn write_experiment_with_spec(
    store: &Store,
    name: &str,
    baseline: &str,
    description: Option<&str>,
    spec_text: &str,
    runs: &[SyntheticRun],
) -> crate::store::Result<()> {
    let experiment = ExperimentRow {
        name: name.into(),
        description: description.map(str::to_string),
        spec_path: format!("experiments/{name}.yaml"),
        spec_text: spec_text.into(),
        overrides: "[]".into(),
        spec_hash: "0".repeat(64),
        baseline: baseline.into(),
    };
    let new_runs: Vec<NewRun> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| NewRun {
            key: r.key(i),
            ordinal: i as i64,
            task: r.task.clone(),
            variant: r.variant.clone(),
            seed: r.seed,
            sweep_json: r.sweep_json.clone(),
            config_json: "{}".into(),
        })
        .collect();
    store.register(&experiment, &new_runs).await?;
    for (i, r) in runs.iter().enumerate() {
        if r.status == RunStatus::Queued {
            continue;
        }
        let key = r.key(i);
        let only = [key.clone()];
        let me = crate::store::WorkerIdentity::named("synthetic:0");
        let lease_for = std::time::Duration::from_secs(365 * 24 * 3600);
        let claim = store
            .claim_next(name, &me, Some(&only), lease_for)
            .await?
            .expect("a queued synthetic run");
        let lease = claim.lease;
        store.mark_started(&lease, &r.device, None, "{}").await?;
        if !r.curve.is_empty() {
            store.write_metrics(&lease, &r.curve).await?;
        }
        if r.status == RunStatus::Running {
            continue;
        }
        let results: Vec<ResultRow> = if r.status == RunStatus::Done {
            r.results
                .iter()
                .map(|(s, n, v)| ResultRow {
                    split: s.clone(),
                    name: n.clone(),
                    value: *v,
                })
                .collect()
        } else {
            Vec::new()
        };
        let finish = Finish {
            status: Some(r.status),
            duration_s: r.duration_s,
            error: r.error.clone(),
            steps: Some(r.steps),
            predictions: if r.status == RunStatus::Done {
                r.predictions.clone()
            } else {
                Vec::new()
            },
            ..Finish::default()
        };
        store.finish(&lease, &results, &finish).await?;
    }
    Ok(())
}

/// A standard-normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A generated grid: every task × variant × seed done, dev `acc`, `f1` and `loss` final results,
/// and `steps` per-step points per run (train loss every step, dev acc and f1 every tenth step).
/// Variant i's spread is `spread[i]` times the first variant's.
pub fn generated_grid(
    tasks: &[&str],
    variants: &[(&str, f64)],
    seeds: u64,
    steps: i64,
    rng_seed: u64,
) -> Vec<SyntheticRun> {
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    let mut runs = Vec::new();
    for task in tasks {
        for (variant, spread) in variants {
            for seed in 1..=seeds {
                let skill = 0.03 * spread * normal(&mut rng);
                let acc = (0.85 + skill).min(1.0);
                let f1 = (0.80 + 1.2 * skill).min(1.0);
                let loss = (0.40 - 2.0 * skill).max(0.01);
                let mut curve = Vec::with_capacity(steps as usize * 2);
                for step in 1..=steps {
                    let progress = step as f64 / steps as f64;
                    curve.push(MetricRow {
                        step,
                        split: "train".into(),
                        name: "loss".into(),
                        value: 0.7 - 0.3 * progress + 0.02 * normal(&mut rng),
                        phase: None,
                    });
                    if step % 10 == 0 || step == steps {
                        let noise = 0.01 * normal(&mut rng);
                        for (name, target) in [("acc", acc), ("f1", f1)] {
                            curve.push(MetricRow {
                                step,
                                split: "dev".into(),
                                name: name.into(),
                                value: 0.5
                                    + (target - 0.5) * (1.0 - (-4.0 * progress).exp())
                                    + noise,
                                phase: None,
                            });
                        }
                    }
                }
                runs.push(SyntheticRun {
                    task: task.to_string(),
                    variant: variant.to_string(),
                    seed,
                    sweep_json: "{}".into(),
                    status: RunStatus::Done,
                    results: vec![
                        ("dev".into(), "acc".into(), acc),
                        ("dev".into(), "f1".into(), f1),
                        ("dev".into(), "loss".into(), loss),
                    ],
                    curve,
                    device: "cpu".into(),
                    duration_s: 30.0 + 5.0 * rng.random::<f64>(),
                    steps,
                    error: None,
                    predictions: Vec::new(),
                });
            }
        }
    }
    runs
}
