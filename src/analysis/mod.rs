//! Turns the store's rows into samples (per setting, metric and variant: the final values of the
//! done runs, one per seed) and the statistics of METHODS.md §7; learning curves from the per-step
//! metrics (`curves`); speed, memory and other facts of the runs apart from the metrics
//! (`measurements`). Plots and reports draw from what this module returns and compute nothing
//! themselves.

pub mod claims;
mod curves;
pub mod examples;
pub mod learned;
pub mod load;
mod measurements;

pub use curves::{phase2_start, Curve, CurvePoint, VariantCurve, TRAIN_POINTS};
pub use learned::{has_not_learned, not_interpretable, NotLearned};
pub use measurements::{
    is_discrete, result_kind, Measurement, ResultKind, VariantMeasurement, PHASE_SPEED_RATIO,
};

use crate::stats::{
    brown_forsythe, min_detectable_reduction, welch_t_test, Bootstrap, BrownForsythe, Interval,
    PowerSettings, Summary, WelchT,
};
use crate::store::{MetricRow, ResultRow, RunRow, RunStatus, Store, StoredPredictions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Prefix of the result rows that hold a task's majority-class baseline: split `dev`, name
/// `majority_acc` is the accuracy of always predicting the training majority class on `dev`.
pub const MAJORITY_PREFIX: &str = "majority_";

/// Whether larger values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Higher,
    Lower,
}

impl Direction {
    /// "higher is better" / "lower is better".
    pub fn phrase(self) -> &'static str {
        match self {
            Direction::Higher => "higher is better",
            Direction::Lower => "lower is better",
        }
    }

    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Higher => "↑",
            Direction::Lower => "↓",
        }
    }
}

/// Direction of a metric by name: scores (accuracy, F1, correlations) are higher-is-better;
/// losses, bits per character and perplexity lower-is-better; `None` for names not known here.
pub fn direction(metric: &str) -> Option<Direction> {
    match metric {
        "acc" | "accuracy" | "f1" | "mcc" | "pearson" | "spearman" | "precision" | "recall"
        | "auc" => Some(Direction::Higher),
        "loss" | "nll" | "bpc" | "ppl" | "perplexity" => Some(Direction::Lower),
        _ => None,
    }
}

/// The range a bounded metric's values lie in: [0, 1] for accuracy, F1, precision, recall and
/// AUC; [−1, 1] for Matthews and rank or linear correlations; `None` for unbounded ones.
pub fn metric_bounds(metric: &str) -> Option<(f64, f64)> {
    match metric {
        "acc" | "accuracy" | "f1" | "precision" | "recall" | "auc" => Some((0.0, 1.0)),
        "mcc" | "pearson" | "spearman" => Some((-1.0, 1.0)),
        _ => None,
    }
}

/// The metric a task is judged by (GLUE's official metric; accuracy for the stand-in tasks;
/// bits per character or perplexity for language modelling), from the task registry, which
/// also knows the aliases older stores use (`wt103`). `None` for unknown tasks.
pub fn primary_metric(task: &str) -> Option<&'static str> {
    crate::task::Task::from_name_or_alias(task).map(crate::task::Task::primary_metric)
}

/// A final metric, identified by the split it was measured on and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MetricKey {
    pub split: String,
    pub name: String,
}

impl MetricKey {
    pub fn new(split: &str, name: &str) -> MetricKey {
        MetricKey {
            split: split.to_string(),
            name: name.to_string(),
        }
    }

    /// `acc` on the `dev` split, `split/name` on any other.
    pub fn label(&self) -> String {
        if self.split == "dev" {
            self.name.clone()
        } else {
            format!("{}/{}", self.split, self.name)
        }
    }

    /// Whether `selector` (`acc`, or `dev_matched/acc`) names this metric. A bare name matches
    /// the metric on every split.
    pub fn matches(&self, selector: &str) -> bool {
        match selector.split_once('/') {
            Some((split, name)) => self.split == split && self.name == name,
            None => self.name == selector,
        }
    }

    pub fn direction(&self) -> Option<Direction> {
        direction(&self.name)
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// A task at one point of the spec's sweep (the sweep is empty when the spec has none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Setting {
    pub task: String,
    /// The sweep values as `key=value, key=value` (keys sorted), empty without a sweep.
    pub sweep: String,
}

impl Setting {
    pub fn of(run: &RunRow) -> Setting {
        Setting {
            task: run.task.clone(),
            sweep: sweep_label(&run.sweep),
        }
    }

    /// `rte`, or `rte [lr=2e-05]` at a sweep point.
    pub fn label(&self) -> String {
        if self.sweep.is_empty() {
            self.task.clone()
        } else {
            format!("{} [{}]", self.task, self.sweep)
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

fn sweep_label(json: &str) -> String {
    sweep_text(&sweep_of(json))
}

/// The sweep point of a stored run (its `sweep` column holds a JSON object); empty without one.
pub fn sweep_of(json: &str) -> BTreeMap<String, serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

/// A sweep point as `kind=x, lr=0.00002`: in key order, strings without their quotes.
pub fn sweep_text(sweep: &BTreeMap<String, serde_json::Value>) -> String {
    let parts: Vec<String> = sweep
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    parts.join(", ")
}

/// Majority-class baselines, keyed by (task, split, metric name).
#[derive(Debug, Clone, Default)]
pub struct MajorityBaselines(pub BTreeMap<(String, String, String), f64>);

impl MajorityBaselines {
    pub fn get(&self, task: &str, metric: &MetricKey) -> Option<f64> {
        self.0
            .get(&(task.to_string(), metric.split.clone(), metric.name.clone()))
            .copied()
    }

    pub fn insert(&mut self, task: &str, split: &str, metric: &str, value: f64) {
        self.0.insert(
            (task.to_string(), split.to_string(), metric.to_string()),
            value,
        );
    }
}

/// Everything the store holds about one experiment.
#[derive(Debug, Clone)]
pub struct ExperimentData {
    pub name: String,
    pub description: Option<String>,
    pub baseline: String,
    /// Every run of the grid, in grid order.
    pub runs: Vec<RunRow>,
    /// Final results by run key (majority rows included; they are separated by `analyse`).
    pub results: HashMap<String, Vec<ResultRow>>,
    /// Per-step metrics by run key, for the runs whose curves were loaded.
    pub curves: HashMap<String, Vec<MetricRow>>,
    /// The spec text stored with the experiment and its `--set` overrides (a JSON list), from
    /// which the claims are read.
    pub spec_text: String,
    pub overrides: String,
    /// Per-example predictions of the runs (loaded with the curves; see `examples`).
    pub predictions: Vec<StoredPredictions>,
    /// The environment each run recorded when it started, by run key (runs without one, or
    /// with one that does not read, are absent).
    pub environments: HashMap<String, crate::environment::Environment>,
}

impl ExperimentData {
    /// Reads the experiment; with `with_curves`, also the per-step metrics of its done runs and
    /// the stored per-example predictions.
    pub async fn load(store: &Store, name: &str, with_curves: bool) -> crate::store::Result<Self> {
        let exp = store.experiment(name).await?;
        let runs = store.runs(name).await?;
        let mut results: HashMap<String, Vec<ResultRow>> = HashMap::new();
        for (key, row) in store.results(name).await? {
            results.entry(key).or_default().push(row);
        }
        let mut curves = HashMap::new();
        let mut predictions = Vec::new();
        if with_curves {
            predictions = store.predictions(name).await?;
            for run in runs.iter().filter(|r| r.status == RunStatus::Done.as_str()) {
                let rows = store.metrics(name, &run.run_key).await?;
                curves.insert(run.run_key.clone(), rows);
            }
        }
        let environments = (store.environments(name).await?.into_iter())
            .filter_map(|(key, json)| Some((key, serde_json::from_str(json.as_deref()?).ok()?)))
            .collect();
        Ok(ExperimentData {
            name: exp.name,
            description: exp.description,
            baseline: exp.baseline,
            runs,
            results,
            curves,
            spec_text: exp.spec_text,
            overrides: exp.overrides,
            predictions,
            environments,
        })
    }
}

/// How far a set of runs has got: counts by status. The one run counter of the harness
/// (`status`, the analysis and the report use it; fields in alphabetical order, the order of
/// `harness status --format json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub diverged: usize,
    pub done: usize,
    pub failed: usize,
    pub queued: usize,
    pub running: usize,
    pub total: usize,
}

impl Progress {
    /// The counts of runs with these statuses (`RunRow::status`).
    pub fn of<'a>(statuses: impl IntoIterator<Item = &'a str>) -> Progress {
        let mut p = Progress::default();
        for s in statuses {
            p.count(s);
        }
        p
    }

    /// Counts one more run with `status`; a status not known here counts as queued.
    pub fn count(&mut self, status: &str) {
        self.total += 1;
        match RunStatus::parse(status) {
            Some(RunStatus::Done) => self.done += 1,
            Some(RunStatus::Diverged) => self.diverged += 1,
            Some(RunStatus::Failed) => self.failed += 1,
            Some(RunStatus::Running) => self.running += 1,
            Some(RunStatus::Queued) | None => self.queued += 1,
        }
    }

    /// Runs that are not done (yet or ever).
    pub fn missing(&self) -> usize {
        self.total - self.done
    }

    /// Runs that ended: done, diverged or failed.
    pub fn finished(&self) -> usize {
        self.done + self.diverged + self.failed
    }

    /// `done 4, diverged 0, failed 1, running 0, queued 2, total 7`.
    pub fn line(&self) -> String {
        format!(
            "done {}, diverged {}, failed {}, running {}, queued {}, total {}",
            self.done, self.diverged, self.failed, self.running, self.queued, self.total
        )
    }
}

/// One variant's sample for one setting and metric: final values of its done runs.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub variant: String,
    pub seeds: Vec<i64>,
    pub values: Vec<f64>,
}

/// A variant against a reference (normally the spec's baseline variant).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub reference: String,
    pub n_reference: usize,
    pub n: usize,
    /// (σ_ref − σ_v) / σ_ref.
    pub std_reduction: f64,
    /// σ_v² / σ_ref².
    pub variance_ratio: f64,
    pub brown_forsythe: Option<BrownForsythe>,
    /// Bootstrap interval of σ_v / σ_ref.
    pub std_ratio_interval: Option<Interval>,
    /// Welch's test of mean_v − mean_ref.
    pub welch: Option<WelchT>,
    /// Smallest std reduction the Brown–Forsythe test detects with the target power at these n.
    pub min_detectable_reduction: Option<f64>,
    /// Arms (reference first) that have not learned the task; when any, the comparison is not
    /// interpretable (see `learned`).
    pub not_learned: Vec<NotLearned>,
}

impl Comparison {
    /// Whether both arms learned the task (or it is not known that one did not).
    pub fn interpretable(&self) -> bool {
        self.not_learned.is_empty()
    }
}

/// Statistics of one variant's sample.
#[derive(Debug, Clone, Serialize)]
pub struct VariantStats {
    pub sample: Sample,
    pub summary: Option<Summary>,
    /// Bootstrap interval of the variant's standard deviation.
    pub std_interval: Option<Interval>,
    /// Done runs at or below the majority-class score (at or above it for lower-is-better
    /// metrics); `None` when no majority baseline is available.
    pub degenerate: Option<usize>,
    /// Against the baseline variant; `None` for the baseline itself or when it has no sample.
    pub vs_baseline: Option<Comparison>,
}

/// One setting and metric: every variant's statistics.
#[derive(Debug, Clone, Serialize)]
pub struct MetricAnalysis {
    pub setting: Setting,
    pub metric: MetricKey,
    pub direction: Option<Direction>,
    /// Whether this is the task's primary metric.
    pub primary: bool,
    pub majority: Option<f64>,
    pub variants: Vec<VariantStats>,
}

impl MetricAnalysis {
    pub fn variant(&self, name: &str) -> Option<&VariantStats> {
        self.variants.iter().find(|v| v.sample.variant == name)
    }
}

/// Settings of the analysis.
#[derive(Debug, Clone)]
pub struct Options {
    pub bootstrap: Bootstrap,
    pub power: PowerSettings,
    /// Compute bootstrap intervals and power (the costly parts); off for quick comparisons.
    pub uncertainty: bool,
    /// Majority-class baselines given by the caller; result rows named `majority_<metric>` add
    /// to (and are overridden by) these.
    pub majority: MajorityBaselines,
}

/// The statistics of one experiment.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub experiment: String,
    pub description: Option<String>,
    pub baseline: String,
    pub settings: Vec<Setting>,
    /// Variants in grid order, the baseline first.
    pub variants: Vec<String>,
    /// Progress per (setting, variant), in setting then variant order.
    pub progress: Vec<(Setting, String, Progress)>,
    pub metrics: Vec<MetricAnalysis>,
    pub curves: Vec<Curve>,
    /// Speed, memory and facts of the done runs (not compared as metrics).
    pub measurements: Vec<Measurement>,
    /// Runs that diverged or failed, in grid order.
    pub problem_runs: Vec<RunRow>,
    /// Done runs whose value of some metric is not finite: (run key, metric).
    pub non_finite: Vec<(String, MetricKey)>,
    #[serde(skip)]
    pub power: PowerSettings,
    #[serde(skip)]
    pub bootstrap: Bootstrap,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bootstrap: Bootstrap::default(),
            power: PowerSettings::default(),
            uncertainty: true,
            majority: MajorityBaselines::default(),
        }
    }
}

impl Analysis {
    pub fn metric(&self, setting: &Setting, metric: &MetricKey) -> Option<&MetricAnalysis> {
        self.metrics
            .iter()
            .find(|m| &m.setting == setting && &m.metric == metric)
    }
}

/// Computes the comparison of `v` against `reference`. `power_cache` memoises the power
/// simulation by sample sizes.
pub fn compare_samples(
    v: &Sample,
    reference: &Sample,
    uncertainty: Option<(&Bootstrap, &PowerSettings)>,
    power_cache: &mut HashMap<(usize, usize), Option<f64>>,
) -> Comparison {
    let (sv, sr) = (
        crate::stats::summary::std_dev(&v.values),
        crate::stats::summary::std_dev(&reference.values),
    );
    let (n, nr) = (v.values.len(), reference.values.len());
    let mdr = uncertainty.and_then(|(_, power)| {
        *power_cache
            .entry((nr, n))
            .or_insert_with(|| min_detectable_reduction(nr, n, power))
    });
    Comparison {
        reference: reference.variant.clone(),
        n_reference: nr,
        n,
        std_reduction: (sr - sv) / sr,
        variance_ratio: (sv * sv) / (sr * sr),
        brown_forsythe: brown_forsythe(&[&reference.values, &v.values]),
        std_ratio_interval: uncertainty
            .and_then(|(bootstrap, _)| bootstrap.std_ratio_interval(&v.values, &reference.values)),
        welch: welch_t_test(&v.values, &reference.values),
        min_detectable_reduction: mdr,
        not_learned: Vec::new(),
    }
}

/// One arm of a comparison: its name (a variant, or `experiment:variant` across experiments),
/// its sample and its degenerate runs (`None` without a majority-class baseline).
#[derive(Debug, Clone, Copy)]
pub struct Arm<'a> {
    pub name: &'a str,
    pub sample: &'a Sample,
    pub degenerate: Option<usize>,
}

impl<'a> Arm<'a> {
    /// A variant's statistics as an arm named `name`.
    pub fn of(name: &'a str, stats: &'a VariantStats) -> Arm<'a> {
        Arm {
            name,
            sample: &stats.sample,
            degenerate: stats.degenerate,
        }
    }
}

/// `v` against `reference` (`compare_samples`), with the arms that have not learned the task
/// (reference first).
pub fn compare_arms(
    v: Arm,
    reference: Arm,
    uncertainty: Option<(&Bootstrap, &PowerSettings)>,
    power_cache: &mut HashMap<(usize, usize), Option<f64>>,
) -> Comparison {
    let mut c = compare_samples(v.sample, reference.sample, uncertainty, power_cache);
    c.not_learned = [reference, v]
        .iter()
        .filter_map(|a| NotLearned::of(a.name, a.degenerate, a.sample.values.len()))
        .collect();
    c
}

/// Values at or below the majority score `m` (at or above it for lower-is-better metrics).
pub fn count_degenerate(values: &[f64], m: f64, dir: Option<Direction>) -> usize {
    values
        .iter()
        .filter(|&&x| match dir {
            Some(Direction::Lower) => x >= m,
            _ => x <= m,
        })
        .count()
}

fn ordered_unique<T: Clone + PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for it in items {
        if !out.contains(&it) {
            out.push(it);
        }
    }
    out
}

/// The statistics of `data` (pure: no I/O).
pub fn analyse(data: &ExperimentData, options: &Options) -> Analysis {
    let settings = ordered_unique(data.runs.iter().map(Setting::of));
    let mut variants = ordered_unique(data.runs.iter().map(|r| r.variant.clone()));
    if let Some(pos) = variants.iter().position(|v| v == &data.baseline) {
        let b = variants.remove(pos);
        variants.insert(0, b);
    }

    let mut progress = Vec::new();
    for s in &settings {
        for v in &variants {
            let p = Progress::of(
                data.runs
                    .iter()
                    .filter(|r| &Setting::of(r) == s && &r.variant == v)
                    .map(|r| r.status.as_str()),
            );
            if p.total > 0 {
                progress.push((s.clone(), v.clone(), p));
            }
        }
    }

    // Majority baselines: the caller's, then the stored `majority_<metric>` rows.
    let mut majority = options.majority.clone();
    for r in &data.runs {
        for row in data.results.get(&r.run_key).into_iter().flatten() {
            if let Some(metric) = row.name.strip_prefix(MAJORITY_PREFIX) {
                if row.value.is_finite() {
                    majority.insert(&r.task, &row.split, metric, row.value);
                }
            }
        }
    }

    // Samples: (setting, metric) → variant → (seed, value), done runs only.
    type Samples = BTreeMap<(usize, MetricKey), HashMap<String, Vec<(i64, f64)>>>;
    let mut samples: Samples = BTreeMap::new();
    let mut non_finite = Vec::new();
    for r in data
        .runs
        .iter()
        .filter(|r| r.status == RunStatus::Done.as_str())
    {
        let si = settings
            .iter()
            .position(|s| *s == Setting::of(r))
            .unwrap_or(0);
        for row in data.results.get(&r.run_key).into_iter().flatten() {
            if row.name.starts_with(MAJORITY_PREFIX) || result_kind(&row.name) != ResultKind::Metric
            {
                continue;
            }
            let key = MetricKey::new(&row.split, &row.name);
            if !row.value.is_finite() {
                non_finite.push((r.run_key.clone(), key));
                continue;
            }
            samples
                .entry((si, key))
                .or_default()
                .entry(r.variant.clone())
                .or_default()
                .push((r.seed, row.value));
        }
    }

    let mut power_cache = HashMap::new();
    let mut metrics = Vec::new();
    for ((si, key), by_variant) in samples {
        let setting = settings[si].clone();
        let dir = key.direction();
        let maj = majority.get(&setting.task, &key);
        let sample_of = |v: &str| -> Option<Sample> {
            by_variant.get(v).map(|pts| {
                let mut pts = pts.clone();
                pts.sort_by_key(|p| p.0);
                Sample {
                    variant: v.to_string(),
                    seeds: pts.iter().map(|p| p.0).collect(),
                    values: pts.iter().map(|p| p.1).collect(),
                }
            })
        };
        let base_sample = sample_of(&data.baseline);
        let mut vstats = Vec::new();
        for v in &variants {
            let Some(sample) = sample_of(v) else { continue };
            let degenerate = maj.map(|m| count_degenerate(&sample.values, m, dir));
            let vs_baseline = match &base_sample {
                Some(b) if v != &data.baseline => {
                    let base_degenerate = maj.map(|m| count_degenerate(&b.values, m, dir));
                    Some(compare_arms(
                        Arm {
                            name: v,
                            sample: &sample,
                            degenerate,
                        },
                        Arm {
                            name: &b.variant,
                            sample: b,
                            degenerate: base_degenerate,
                        },
                        options
                            .uncertainty
                            .then_some((&options.bootstrap, &options.power)),
                        &mut power_cache,
                    ))
                }
                _ => None,
            };
            vstats.push(VariantStats {
                summary: Summary::of(&sample.values),
                std_interval: if options.uncertainty {
                    options.bootstrap.std_interval(&sample.values)
                } else {
                    None
                },
                sample,
                degenerate,
                vs_baseline,
            });
        }
        metrics.push(MetricAnalysis {
            primary: primary_metric(&setting.task) == Some(key.name.as_str()),
            setting,
            direction: dir,
            majority: maj,
            metric: key,
            variants: vstats,
        });
    }
    // Primary metric first within each setting; otherwise split then name order.
    metrics.sort_by(|a, b| {
        let sa = settings.iter().position(|s| *s == a.setting);
        let sb = settings.iter().position(|s| *s == b.setting);
        sa.cmp(&sb)
            .then(b.primary.cmp(&a.primary))
            .then(a.metric.cmp(&b.metric))
    });

    let curves = curves::learning_curves(data, &settings, &variants);
    let measurements = measurements::measurements(
        &data.runs,
        &data.results,
        &settings,
        &variants,
        &data.baseline,
    );
    let problem_runs = data
        .runs
        .iter()
        .filter(|r| {
            r.status == RunStatus::Diverged.as_str() || r.status == RunStatus::Failed.as_str()
        })
        .cloned()
        .collect();

    Analysis {
        experiment: data.name.clone(),
        description: data.description.clone(),
        baseline: data.baseline.clone(),
        settings,
        variants,
        progress,
        metrics,
        curves,
        measurements,
        problem_runs,
        non_finite,
        power: options.power,
        bootstrap: options.bootstrap,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::synthetic::{write_experiment, SyntheticRun};

    pub(crate) const BASE: [f64; 5] = [0.62, 0.70, 0.50, 0.66, 0.58];
    pub(crate) const CROSS: [f64; 4] = [0.64, 0.66, 0.61, 0.65];

    /// rte: baseline seeds 1–5 done; cross_head seeds 1–4 done, seed 5 diverged; a queued and a
    /// failed run of a third variant; majority accuracy 0.527 stored as a `majority_acc` row.
    pub(crate) fn small_runs() -> Vec<SyntheticRun> {
        let mut runs = Vec::new();
        for (i, v) in BASE.iter().enumerate() {
            let mut r = SyntheticRun::done(
                "rte",
                "baseline",
                i as u64 + 1,
                &[("acc", *v), ("loss", 1.0 - v)],
            );
            if i == 0 {
                r.results.push(("dev".into(), "majority_acc".into(), 0.527));
            }
            runs.push(r);
        }
        for (i, v) in CROSS.iter().enumerate() {
            runs.push(SyntheticRun::done(
                "rte",
                "cross_head",
                i as u64 + 1,
                &[("acc", *v), ("loss", 1.0 - v)],
            ));
        }
        runs.push(
            SyntheticRun::done("rte", "cross_head", 5, &[("acc", 0.5)])
                .with_status(RunStatus::Diverged, Some("loss is NaN at step 40")),
        );
        runs.push(SyntheticRun::done("rte", "skip", 1, &[]).with_status(RunStatus::Queued, None));
        runs.push(
            SyntheticRun::done("rte", "skip", 2, &[])
                .with_status(RunStatus::Failed, Some("out of memory")),
        );
        runs
    }

    pub(crate) fn load(runs: &[SyntheticRun], curves: bool) -> (ExperimentData, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let data = rt.block_on(async {
            let store = Store::open(&dir.path().join("h.db")).await.unwrap();
            write_experiment(
                &store,
                "small",
                "baseline",
                Some("a small experiment"),
                runs,
            )
            .await
            .unwrap();
            let d = ExperimentData::load(&store, "small", curves).await.unwrap();
            store.close().await;
            d
        });
        (data, dir)
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-12), "{a} vs {b}");
    }

    #[test]
    fn statistics_of_a_small_experiment() {
        let (data, _dir) = load(&small_runs(), false);
        let a = analyse(&data, &Options::default());
        assert_eq!(a.variants, ["baseline", "cross_head", "skip"]);
        let rte = Setting {
            task: "rte".into(),
            sweep: String::new(),
        };
        assert_eq!(a.settings, [rte]);
        let p: Vec<_> = a
            .progress
            .iter()
            .map(|(_, v, p)| (v.as_str(), p.clone()))
            .collect();
        let prog = |total, done, diverged, failed, queued| Progress {
            total,
            done,
            diverged,
            failed,
            running: 0,
            queued,
        };
        assert_eq!(p[0], ("baseline", prog(5, 5, 0, 0, 0)));
        assert_eq!(p[1], ("cross_head", prog(5, 4, 1, 0, 0)));
        assert_eq!(p[2], ("skip", prog(2, 0, 0, 1, 1)));
        assert_eq!(a.problem_runs.len(), 2);

        // Primary metric of rte (acc) first, then loss.
        assert_eq!(a.metrics.len(), 2);
        let acc = &a.metrics[0];
        assert!(acc.primary && acc.metric.label() == "acc");
        assert_eq!(acc.direction, Some(Direction::Higher));
        assert_eq!(a.metrics[1].metric.label(), "loss");
        assert_eq!(a.metrics[1].direction, Some(Direction::Lower));
        assert_eq!(acc.majority, Some(0.527));

        let base = acc.variant("baseline").unwrap();
        assert_eq!(base.sample.seeds, [1, 2, 3, 4, 5]);
        // np.std([0.62,0.70,0.50,0.66,0.58], ddof=1) -> 0.07694153624668537; mean 0.612; median 0.62
        let s = base.summary.unwrap();
        close(s.std, 0.07694153624668537);
        close(s.mean, 0.612);
        close(s.median, 0.62);
        assert_eq!(base.degenerate, Some(1)); // 0.50 ≤ 0.527
        assert!(base.vs_baseline.is_none());

        let cross = acc.variant("cross_head").unwrap();
        assert_eq!(cross.sample.seeds, [1, 2, 3, 4]); // the diverged seed 5 is not a sample point
        assert_eq!(cross.degenerate, Some(0));
        let c = cross.vs_baseline.as_ref().unwrap();
        assert_eq!((c.n_reference, c.n), (5, 4));
        // σ_c = np.std([0.64,0.66,0.61,0.65], ddof=1) = 0.021602468994692887;
        // (σ_b − σ_c)/σ_b -> 0.7192352785180642; σ_c²/σ_b² -> 0.07882882882882898
        close(c.std_reduction, 0.7192352785180642);
        close(c.variance_ratio, 0.07882882882882898);
        // scipy.stats.levene(BASE, CROSS, center='median') -> statistic=2.931489785749876,
        // pvalue=0.1305988180502319
        close(c.brown_forsythe.unwrap().p_value, 0.1305988180502319);
        // scipy.stats.ttest_ind(CROSS, BASE, equal_var=False) -> pvalue=0.47427339600605667
        close(c.welch.unwrap().p_value, 0.47427339600605667);
        let ci = c.std_ratio_interval.unwrap();
        assert!(ci.lower < ci.upper && ci.lower >= 0.0);
        assert_eq!(c.min_detectable_reduction, None); // 5 vs 4 seeds: no reduction reaches 80%
        assert!(acc.variant("skip").is_none());
    }

    #[test]
    fn progress_counts_runs_by_status() {
        let mut p = Progress::of(["done", "done", "failed", "running", "queued", "diverged"]);
        assert_eq!(
            p.line(),
            "done 2, diverged 1, failed 1, running 1, queued 1, total 6"
        );
        assert_eq!((p.finished(), p.missing()), (4, 4));
        p.count("lost"); // not a status: still to run
        assert_eq!((p.queued, p.total), (2, 7));
    }

    #[test]
    fn majority_from_options_and_lower_is_better() {
        let mut runs = small_runs();
        runs[0].results.retain(|r| r.1 != "majority_acc");
        let (data, _dir) = load(&runs, false);
        let a = analyse(&data, &Options::default());
        assert_eq!(a.metrics[0].majority, None);
        assert_eq!(a.metrics[0].variants[0].degenerate, None);
        let mut options = Options::default();
        options.majority.insert("rte", "dev", "loss", 0.4);
        let a = analyse(&data, &options);
        let loss = &a.metrics[1];
        // Lower is better: a loss at or above the majority loss (0.4) is degenerate:
        // baseline losses 0.38, 0.30, 0.50, 0.34, 0.42 -> two.
        assert_eq!(loss.variants[0].degenerate, Some(2));
    }

    #[test]
    fn metric_labels_and_selectors() {
        let k = MetricKey::new("dev_matched", "acc");
        assert_eq!(k.label(), "dev_matched/acc");
        assert!(k.matches("acc") && k.matches("dev_matched/acc") && !k.matches("dev/acc"));
        assert_eq!(MetricKey::new("dev", "f1").label(), "f1");
        assert_eq!(
            sweep_label(r#"{"lr": 2e-5, "kind": "x"}"#),
            "kind=x, lr=0.00002"
        );
        assert_eq!(direction("bpc"), Some(Direction::Lower));
        assert_eq!(direction("mcc"), Some(Direction::Higher));
        assert_eq!(primary_metric("cola"), Some("mcc"));
    }
}
