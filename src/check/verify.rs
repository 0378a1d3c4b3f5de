//! Compares the store's results of an experiment with an expected file (pure: no I/O).

use super::expected::{is_discrete_label, split_label, ExpectedFile, GroupEntry, RunEntry, Sweep};
use super::expected::{GroupSection, Identity, RunMetric, RunSection};
use super::is_done;
use super::recorded::RecordedOn;
use super::show::{show, show_diff};
use super::tolerance::{judge, standard_error, Tolerance, Verdict};
use crate::analysis::{direction, result_kind, Direction, MetricKey, ResultKind, MAJORITY_PREFIX};
use crate::stats::summary::{mean, std_dev};
use crate::store::{ResultRow, RunRow};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Whether a check concerns one run or a group of seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    #[default]
    Run,
    Group,
}

/// Which number of an entry is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    /// A run's final value.
    #[default]
    Value,
    /// A group's mean over its done runs.
    Mean,
    /// A group's standard deviation (ddof = 1).
    Std,
    /// A group's number of done runs with the metric.
    N,
}

/// One expected number against the current one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Check {
    pub kind: EntryKind,
    /// `spam/baseline seed 1` or `spam/baseline`, with ` [sweep]` when there is one.
    pub entry: String,
    pub task: String,
    pub variant: String,
    /// `null` for groups.
    pub seed: Option<i64>,
    pub sweep: Sweep,
    /// The run compared (runs only; `null` when no run was found).
    pub run_key: Option<String>,
    /// `acc` (dev split) or `split/name`.
    pub metric: String,
    pub statistic: Statistic,
    pub expected: f64,
    /// `null` when missing or not a finite number.
    pub actual: Option<f64>,
    /// actual − expected.
    pub difference: Option<f64>,
    /// The largest |difference| that passes.
    pub allowed: Option<f64>,
    pub tolerance: Option<Tolerance>,
    /// Which way is better for this number (`null` when not known).
    pub direction: Option<Direction>,
    pub verdict: Verdict,
    /// Why a check is missing or failed in a way the numbers do not show.
    pub note: Option<String>,
}

impl Check {
    /// The check of `metric`'s `statistic` of this check's entry, not yet compared.
    fn of(
        &self,
        metric: &str,
        statistic: Statistic,
        expected: f64,
        tolerance: Option<Tolerance>,
    ) -> Check {
        let direction = match statistic {
            Statistic::Value | Statistic::Mean => {
                split_label(metric).and_then(|(_, name)| direction(name))
            }
            Statistic::Std => Some(Direction::Lower),
            Statistic::N => None,
        };
        let metric = metric.to_string();
        Check {
            metric,
            statistic,
            expected,
            tolerance,
            direction,
            ..self.clone()
        }
    }

    /// The tolerance as the outputs show it; a `std_errors` one with the difference it allows
    /// between `open` and `close`.
    pub fn tolerance_text(&self, open: &str, close: &str) -> Option<String> {
        let t = self.tolerance?;
        Some(match self.allowed {
            Some(a) if t.std_errors.is_some() => format!("{t} {open}{}{close}", show(a)),
            _ => t.to_string(),
        })
    }

    /// `spam/baseline seed 1: loss moved from 0.5 to 0.6 (+0.1, worse: lower is better), beyond
    /// the tolerance abs 1e-9`.
    fn moved_sentence(&self) -> String {
        let m = &self.metric;
        let what = match self.statistic {
            Statistic::Value => m.clone(),
            Statistic::Mean => format!("mean {m}"),
            Statistic::Std => format!("std of {m}"),
            Statistic::N => format!("n of {m}"),
        };
        let actual = self.actual.map_or("not a number".to_string(), show);
        let how = match (self.verdict, self.direction) {
            (Verdict::Better, Some(d)) => format!("better: {}", d.phrase()),
            (Verdict::Worse, Some(d)) => format!("worse: {}", d.phrase()),
            (Verdict::Worse, None) => "not a finite number".to_string(),
            _ => "changed; no better direction is known".to_string(),
        };
        let diff = self
            .difference
            .map_or(String::new(), |d| format!("{}, ", show_diff(d)));
        let tolerance = self
            .tolerance_text("= ", "")
            .unwrap_or_else(|| "none".into());
        let (entry, expected) = (&self.entry, show(self.expected));
        format!("{entry}: {what} moved from {expected} to {actual} ({diff}{how}), beyond the tolerance {tolerance}")
    }
}

/// Everything `harness check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub checks: Vec<Check>,
    /// One sentence per problem (a moved value, a missing run), in file order.
    pub problems: Vec<String>,
    /// Things worth knowing that do not fail the check (changed run keys, results the file
    /// does not mention).
    pub notes: Vec<String>,
    /// Where the expectations were recorded (absent in files written before it was kept).
    pub recorded_on: Option<RecordedOn>,
    /// Where the checked runs ran.
    pub running_on: RecordedOn,
    /// `cpu_capability AVX512 → AVX2`, one per field that differs.
    pub machine_differences: Vec<String>,
}

impl Outcome {
    /// How many checks have verdict `v`.
    pub fn count(&self, v: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == v).count()
    }

    /// The number of checks of every verdict, by its name.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        (Verdict::ALL.iter())
            .map(|&v| (crate::output::name_of(&v), self.count(v)))
            .collect()
    }

    /// Whether every check holds (improvements too when `allow_better`).
    pub fn passed(&self, allow_better: bool) -> bool {
        self.checks.iter().all(|c| !c.verdict.fails(allow_better))
    }
}

/// The final metrics of one run by label, without the majority-class rows and the measurements
/// of the machine (speed, memory: benchmarked, never checked; facts of the run such as
/// parameter counts are deterministic and are checked).
pub fn run_metrics(rows: &[ResultRow]) -> BTreeMap<String, f64> {
    rows.iter()
        .filter(|r| !r.name.starts_with(MAJORITY_PREFIX))
        .filter(|r| result_kind(&r.name) != ResultKind::Measurement)
        .map(|r| (MetricKey::new(&r.split, &r.name).label(), r.value))
        .collect()
}

/// The final metrics of a stored run by label (see [`run_metrics`]).
pub fn metrics_of(
    results: &HashMap<String, Vec<ResultRow>>,
    run: &RunRow,
) -> BTreeMap<String, f64> {
    run_metrics(results.get(&run.run_key).map_or(&[][..], |v| v))
}

/// The stored runs of a group, and each metric's values over those that are done, in run order.
pub fn group_values<'a>(
    entry: &GroupEntry,
    runs: &'a [RunRow],
    results: &HashMap<String, Vec<ResultRow>>,
) -> (Vec<&'a RunRow>, BTreeMap<String, Vec<f64>>) {
    let members: Vec<&RunRow> = (runs.iter())
        .filter(|r| entry.same(&GroupEntry::of(r)))
        .collect();
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in members.iter().filter(|r| is_done(r)) {
        for (metric, value) in metrics_of(results, run) {
            values.entry(metric).or_default().push(value);
        }
    }
    (members, values)
}

/// The stored run an entry stands for: the one with the recorded key, else the done run that
/// finished last among those with the entry's task, variant, seed and sweep point, else any of
/// them. Also says how many runs had that identity.
pub fn find_run<'a>(entry: &RunEntry, runs: &'a [RunRow]) -> (Option<&'a RunRow>, usize) {
    let same: Vec<&RunRow> = runs
        .iter()
        .filter(|r| entry.same(&RunEntry::of(r)))
        .collect();
    let keyed = same.iter().find(|r| Some(&r.run_key) == entry.key.as_ref());
    let last_done =
        (same.iter().filter(|r| is_done(r))).max_by(|a, b| a.finished_at.cmp(&b.finished_at));
    (keyed.or(last_done).or(same.first()).copied(), same.len())
}

/// Why a discrete result moved, in terms of predictions: `3 of 64 dev predictions flipped
/// (net, from right to wrong)`. `values` are the run's results by label.
fn flip_sentence(
    label: &str,
    expected: f64,
    actual: f64,
    values: &BTreeMap<String, f64>,
) -> String {
    let Some((split, name)) = split_label(label) else {
        return String::new();
    };
    // The value of another result of the same split.
    let of = |other: &str| match split {
        "dev" => values.get(other).copied(),
        _ => values.get(&format!("{split}/{other}")).copied(),
    };
    match (name, of(crate::train::finetune::EXAMPLES)) {
        ("acc", Some(n)) => {
            let flipped = ((actual - expected).abs() * n).round();
            let way = if actual < expected {
                "from right to wrong"
            } else {
                "from wrong to right"
            };
            format!("{flipped} of {n} {split} predictions flipped (net, {way})")
        }
        ("f1" | "mcc", Some(n)) if of("acc").is_some() => format!(
            "predictions flipped (accuracy over the {n} {split} examples is checked separately)"
        ),
        ("acc" | "f1" | "mcc", _) => "predictions flipped".into(),
        _ => "a count of the run changed".into(),
    }
}

struct Builder<'a> {
    runs: &'a [RunRow],
    results: &'a HashMap<String, Vec<ResultRow>>,
    out: Outcome,
    /// The keys of the runs compared.
    matched: BTreeSet<String>,
    /// `label: old → new` for runs found under another key than recorded.
    key_changes: Vec<String>,
}

impl Builder<'_> {
    /// Records `c`, and its problem sentence unless it passes.
    fn push(&mut self, c: Check) {
        if c.verdict != Verdict::Pass {
            self.out.problems.push(c.moved_sentence());
        }
        self.out.checks.push(c);
    }

    /// Compares `actual` with `c.expected` under `c.tolerance` (`se`: the standard error for
    /// `std_errors`); returns the verdict.
    fn compare(&mut self, mut c: Check, actual: f64, se: Option<f64>) -> Verdict {
        let allowed = c
            .tolerance
            .map_or(Some(0.0), |t| t.allowed(c.expected, se).ok());
        c.actual = actual.is_finite().then_some(actual);
        c.allowed = allowed;
        c.difference = c.actual.map(|a| a - c.expected);
        c.verdict = match allowed {
            Some(allowed) => judge(c.expected, actual, allowed, c.direction),
            None => {
                c.note = Some("no standard error: the group has a single done run".into());
                Verdict::Changed
            }
        };
        if !actual.is_finite() {
            c.note = Some("not a finite number".into());
        }
        let verdict = c.verdict;
        self.push(c);
        verdict
    }

    fn missing(&mut self, mut c: Check, note: &str) {
        c.note = Some(note.to_string());
        self.out.checks.push(c);
    }

    fn run_entry(&mut self, entry: &RunEntry, section: &RunSection) {
        let (run, same) = find_run(entry, self.runs);
        let label = entry.label();
        let template = Check {
            seed: Some(entry.seed),
            run_key: run.map(|r| r.run_key.clone()),
            ..template(
                EntryKind::Run,
                label.clone(),
                &entry.task,
                &entry.variant,
                &entry.sweep,
            )
        };
        // Float results take the section's tolerance; discrete ones are exact unless told.
        let check = |name: &str, m: &RunMetric| {
            let default = match is_discrete_label(name) {
                true => section.discrete_tolerance.or(Some(Tolerance::EXACT)),
                false => section.tolerance,
            };
            template.of(name, Statistic::Value, m.value, m.tolerance.or(default))
        };
        let Some(run) = run.filter(|r| is_done(r)) else {
            let note = match run {
                None => "no such run in the experiment".to_string(),
                Some(r) => match r.error.as_deref().and_then(|e| e.lines().next()) {
                    Some(err) => format!("the run is {}: {err}", r.status),
                    None => format!("the run is {}", r.status),
                },
            };
            self.out.problems.push(format!("{label}: missing: {note}"));
            for (name, m) in &entry.metrics {
                self.missing(check(name, m), &note);
            }
            return;
        };
        if same > 1 {
            self.out.notes.push(format!(
                "{label}: {same} runs of the experiment have this task, variant, seed and sweep point (with different settings); compared {}",
                run.run_key
            ));
        }
        let values = metrics_of(self.results, run);
        for (name, m) in &entry.metrics {
            let Some(&actual) = values.get(name) else {
                let has = values.keys().cloned().collect::<Vec<_>>().join(", ");
                self.out.problems.push(format!(
                    "{label}: expected metric {name} = {}, but the run recorded no such metric (it has: {has})",
                    show(m.value),
                ));
                self.missing(check(name, m), "the run recorded no such metric");
                continue;
            };
            let verdict = self.compare(check(name, m), actual, None);
            if is_discrete_label(name) && actual.is_finite() && verdict != Verdict::Pass {
                let why = flip_sentence(name, m.value, actual, &values);
                let problem = self
                    .out
                    .problems
                    .last_mut()
                    .expect("a failed check has one");
                problem.push_str(&format!(": {why}"));
                self.out.checks.last_mut().expect("just pushed").note = Some(why);
            }
        }
        let extra: Vec<&str> = (values.keys())
            .filter(|k| !entry.metrics.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            let extra = extra.join(", ");
            (self.out.notes).push(format!(
                "{label}: not checked (not in the expected file): {extra}"
            ));
        }
        if let Some(old) = entry.key.as_ref().filter(|k| *k != &run.run_key) {
            self.key_changes
                .push(format!("{label}: {old} → {}", run.run_key));
        }
        self.matched.insert(run.run_key.clone());
    }

    fn group_entry(&mut self, entry: &GroupEntry, section: &GroupSection) {
        let (members, values) = group_values(entry, self.runs, self.results);
        let not_done: Vec<String> = (members.iter().filter(|r| !is_done(r)))
            .map(|r| format!("seed {} is {}", r.seed, r.status))
            .collect();
        let why = match not_done.is_empty() {
            true => String::new(),
            false => format!(" ({})", not_done.join(", ")),
        };
        let template = template(
            EntryKind::Group,
            entry.label(),
            &entry.task,
            &entry.variant,
            &entry.sweep,
        );
        for (label, m) in &entry.metrics {
            let values = values.get(label).map_or(&[][..], Vec::as_slice);
            let n = values.len();
            // n: fewer done runs than recorded is missing, more is a change.
            let mut c = template.of(label, Statistic::N, m.n as f64, Some(Tolerance::EXACT));
            (c.actual, c.difference, c.allowed) =
                (Some(n as f64), Some(n as f64 - m.n as f64), Some(0.0));
            c.verdict = match n.cmp(&m.n) {
                std::cmp::Ordering::Equal => Verdict::Pass,
                std::cmp::Ordering::Less => Verdict::Missing,
                std::cmp::Ordering::Greater => Verdict::Changed,
            };
            if c.verdict != Verdict::Pass {
                c.note = Some(format!("{n} done runs with {label}, expected {}{why}", m.n));
                let problem = format!(
                    "{}: {label} has {n} done runs, expected {}{why}",
                    c.entry, m.n
                );
                self.out.problems.push(problem);
            }
            self.out.checks.push(c);
            let tolerance = m.tolerance.or(section.tolerance);
            let c = template.of(label, Statistic::Mean, m.mean, tolerance);
            if n == 0 {
                self.missing(c, "no done run has this metric");
                continue;
            }
            let se = m.std.and_then(|s| standard_error(s, m.n, n));
            self.compare(c, mean(values), se);
            if let (Some(std), Some(t)) = (m.std, m.std_tolerance.or(section.std_tolerance)) {
                let c = template.of(label, Statistic::Std, std, Some(t));
                self.compare(c, std_dev(values), None);
            }
        }
    }

    /// `3 done runs have no expectations (...): a, b, c`, when there are some.
    fn unchecked(&mut self, what: &str, items: &[String]) {
        if !items.is_empty() {
            let (n, items) = (items.len(), abbreviate(items));
            self.out.notes.push(format!(
                "{n} {what} have no expectations (`--update` records them): {items}"
            ));
        }
    }
}

/// A check of `entry` (its label, task, variant and sweep point) before it says what it checks.
fn template(kind: EntryKind, entry: String, task: &str, variant: &str, sweep: &Sweep) -> Check {
    let (task, variant, sweep) = (task.to_string(), variant.to_string(), sweep.clone());
    Check {
        kind,
        entry,
        task,
        variant,
        sweep,
        ..Check::default()
    }
}

/// Checks `file` against the runs and final results of `experiment`.
/// `running_on` is where the runs checked ran (see [`RecordedOn::of_runs`]).
pub fn verify(
    file: &ExpectedFile,
    experiment: &str,
    runs: &[RunRow],
    results: &HashMap<String, Vec<ResultRow>>,
    running_on: &RecordedOn,
) -> Outcome {
    let recorded_on = file.recorded_on.clone();
    let machine_differences = recorded_on
        .as_ref()
        .map_or_else(Vec::new, |r| r.differences(running_on));
    let running_on = running_on.clone();
    let out = Outcome {
        recorded_on,
        running_on,
        machine_differences,
        ..Outcome::default()
    };
    let (matched, key_changes) = (BTreeSet::new(), Vec::new());
    let mut b = Builder {
        runs,
        results,
        out,
        matched,
        key_changes,
    };
    if let Some(name) = file.experiment.as_ref().filter(|name| *name != experiment) {
        b.out.notes.push(format!(
            "the expected file was recorded from experiment `{name}`; checking `{experiment}` against it"
        ));
    }
    let done: Vec<&RunRow> = runs.iter().filter(|r| is_done(r)).collect();
    if let Some(section) = &file.runs {
        for entry in &section.entries {
            b.run_entry(entry, section);
        }
        if !b.key_changes.is_empty() {
            let (n, changes) = (b.key_changes.len(), abbreviate(&b.key_changes));
            b.out.notes.push(format!(
                "{n} runs have another key than recorded (their settings differ from when the expectations were recorded): {changes}"
            ));
        }
        let unchecked: Vec<String> = (done.iter().filter(|r| !b.matched.contains(&r.run_key)))
            .map(|r| RunEntry::of(r).label())
            .collect();
        b.unchecked("done runs", &unchecked);
    }
    if let Some(section) = &file.groups {
        for entry in &section.entries {
            b.group_entry(entry, section);
        }
        let mut unchecked: Vec<String> = Vec::new();
        for group in done.iter().map(|r| GroupEntry::of(r)) {
            let expected = section.entries.iter().any(|e| e.same(&group));
            if !expected && !unchecked.contains(&group.label()) {
                unchecked.push(group.label());
            }
        }
        b.unchecked("groups", &unchecked);
    }
    b.out
}

fn abbreviate(items: &[String]) -> String {
    const SHOWN: usize = 6;
    match items.len() <= SHOWN {
        true => items.join(", "),
        false => format!(
            "{}, and {} more",
            items[..SHOWN].join(", "),
            items.len() - SHOWN
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn measurements_are_not_results() {
        let row = |split: &str, name: &str| ResultRow {
            split: split.into(),
            name: name.into(),
            value: 1.0,
        };
        let rows = vec![
            row("valid", "bpc"),
            row("train", "ms_per_step_phase1"),
            row("train", "tokens_per_s"),
            row("train", "peak_memory_bytes"),
            row("train", "params_total"),
            row("dev", "majority_acc"),
            row("dev", "acc"),
        ];
        let labels: Vec<String> = run_metrics(&rows).into_keys().collect();
        assert_eq!(labels, vec!["acc", "train/params_total", "valid/bpc"]);
    }
    use super::*;
    use crate::check::expected::parse;

    /// A run row as the store gives it (a failed run carries an error message).
    pub(crate) fn run(key: &str, task: &str, variant: &str, seed: i64, status: &str) -> RunRow {
        RunRow {
            run_key: key.into(),
            ordinal: seed,
            task: task.into(),
            variant: variant.into(),
            seed,
            sweep: "{}".into(),
            config: "{}".into(),
            status: status.into(),
            attempt: 1,
            worker: None,
            started_at: None,
            finished_at: Some(format!("2024-01-01T00:00:0{seed}Z")),
            duration_s: None,
            device: None,
            git_rev: None,
            error: (status == "failed").then(|| "out of memory\nbacktrace".to_string()),
            steps: None,
            train_examples_per_s: None,
            peak_memory_bytes: None,
            host: None,
            slurm_job: None,
        }
    }

    fn rows(acc: f64, loss: f64) -> Vec<ResultRow> {
        vec![
            ResultRow {
                split: "dev".into(),
                name: "acc".into(),
                value: acc,
            },
            ResultRow {
                split: "dev".into(),
                name: "loss".into(),
                value: loss,
            },
            ResultRow {
                split: "dev".into(),
                name: "majority_acc".into(),
                value: 0.5,
            },
        ]
    }

    const FILE: &str = "\
experiment: demo
runs:
  tolerance: {abs: 1e-9}
  entries:
    - {task: spam, variant: baseline, seed: 1, key: k1, metrics: {acc: 0.75, loss: 0.5}}
    - {task: spam, variant: baseline, seed: 2, key: k2, metrics: {acc: 0.5, loss: 0.6}}
groups:
  tolerance: {abs: 1e-9, std_errors: 3}
  std_tolerance: {rel: 0.5}
  entries:
    - task: spam
      variant: baseline
      metrics:
        acc: {mean: 0.625, std: 0.1767766952966369, n: 2}
";

    fn data(acc2: f64, status2: &str) -> (Vec<RunRow>, HashMap<String, Vec<ResultRow>>) {
        let runs = vec![
            run("k1", "spam", "baseline", 1, "done"),
            run("k2", "spam", "baseline", 2, status2),
        ];
        let mut results = HashMap::new();
        results.insert("k1".to_string(), rows(0.75, 0.5));
        if status2 == "done" {
            results.insert("k2".to_string(), rows(acc2, 0.6));
        }
        (runs, results)
    }

    #[test]
    fn float_results_take_the_tolerance_and_discrete_ones_stay_exact() {
        // The runs section of FILE alone, with the default tolerance of float results.
        let runs_only = FILE.split("groups:").next().unwrap().replace(
            "{abs: 1e-9}\n  entries",
            "{abs: 1e-7, rel: 1e-6}\n  entries",
        );
        let file = parse(&runs_only, "f.yaml").unwrap();
        let (runs, mut results) = data(0.5, "done");
        // A loss one float32 rounding step off passes under rel 1e-6.
        results.get_mut("k2").unwrap()[1].value = 0.6 + 3e-8;
        let out = verify(&file, "demo", &runs, &results, &RecordedOn::default());
        assert!(out.passed(false), "{:?}", out.problems);
        let acc = out.checks.iter().find(|c| c.metric == "acc").unwrap();
        assert_eq!(acc.tolerance, Some(Tolerance::EXACT));
        // A loss 1e-4 off fails; so does one flipped prediction out of 64.
        results.get_mut("k2").unwrap()[1].value = 0.6 + 1e-4;
        results.get_mut("k2").unwrap()[0].value = 0.5 - 1.0 / 64.0;
        results.get_mut("k2").unwrap().push(ResultRow {
            split: "dev".into(),
            name: "examples".into(),
            value: 64.0,
        });
        let out = verify(&file, "demo", &runs, &results, &RecordedOn::default());
        assert_eq!(out.count(Verdict::Worse), 2, "{:?}", out.problems);
        let flip = out
            .problems
            .iter()
            .find(|p| p.contains(": acc moved"))
            .unwrap();
        assert!(
            flip.ends_with("1 of 64 dev predictions flipped (net, from right to wrong)"),
            "{flip}"
        );
    }

    #[test]
    fn a_failure_says_where_it_was_recorded_and_where_it_ran() {
        let recorded = RecordedOn::of_runs(&[serde_json::from_str(
            r#"{"cpu":"A","cpu_capability":"AVX512"}"#,
        )
        .unwrap()]);
        let running =
            RecordedOn::of_runs(&[
                serde_json::from_str(r#"{"cpu":"B","cpu_capability":"AVX2"}"#).unwrap(),
            ]);
        let mut file = parse(FILE, "f.yaml").unwrap();
        file.recorded_on = Some(recorded.clone());
        let (runs, results) = data(0.4375, "done");
        let out = verify(&file, "demo", &runs, &results, &running);
        assert_eq!(
            out.machine_differences,
            vec!["cpu A → B", "cpu_capability AVX512 → AVX2"]
        );
        let said = crate::check::render::machine_sentence(&out).unwrap();
        assert!(
            said.contains("recorded on A, kernels AVX512; running on B, kernels AVX2"),
            "{said}"
        );
        // The same machine: the change is to blame.
        let out = verify(&file, "demo", &runs, &results, &recorded);
        let said = crate::check::render::machine_sentence(&out).unwrap();
        assert!(said.contains("the same machine configuration"), "{said}");
        // Passing on the same machine says nothing.
        let (runs, results) = data(0.5, "done");
        let out = verify(&file, "demo", &runs, &results, &recorded);
        assert_eq!(crate::check::render::machine_sentence(&out), None);
    }

    #[test]
    fn identical_results_pass() {
        let file = parse(FILE, "f.yaml").unwrap();
        let (runs, results) = data(0.5, "done");
        let out = verify(&file, "demo", &runs, &results, &RecordedOn::default());
        assert!(out.passed(false), "{:?}", out.problems);
        // 2 runs × 2 metrics, plus the group's n, mean and std.
        assert_eq!((out.count(Verdict::Pass), out.checks.len()), (7, 7));
        let counts = serde_json::to_string(&out.counts()).unwrap();
        assert_eq!(
            counts,
            r#"{"better":0,"changed":0,"missing":0,"pass":7,"worse":0}"#
        );
        assert!(out.notes.is_empty(), "{:?}", out.notes);
    }

    #[test]
    fn a_moved_metric_names_the_run_the_amount_and_the_direction() {
        let file = parse(FILE, "f.yaml").unwrap();
        let (runs, results) = data(0.4375, "done");
        let out = verify(&file, "demo", &runs, &results, &RecordedOn::default());
        assert!(!out.passed(false) && !out.passed(true));
        let acc = out
            .checks
            .iter()
            .find(|c| c.seed == Some(2) && c.metric == "acc")
            .unwrap();
        assert_eq!(acc.verdict, Verdict::Worse);
        assert_eq!(acc.difference, Some(-0.0625));
        assert!(
            out.problems[0].starts_with("spam/baseline seed 2: acc moved from 0.5 to 0.4375 (-0.0625, worse: higher is better)"),
            "{}",
            out.problems[0]
        );
        // The group mean moved by -0.03125 with SE = 0.1768 * sqrt(1/2 + 1/2): within 3 SE;
        // its std grew from 0.177 to 0.221, within rel 0.5.
        let mean = out
            .checks
            .iter()
            .find(|c| c.statistic == Statistic::Mean)
            .unwrap();
        assert_eq!(mean.verdict, Verdict::Pass);
        assert!((mean.allowed.unwrap() - 3.0 * 0.1767766952966369).abs() < 1e-12);
    }

    #[test]
    fn improvements_fail_unless_allowed() {
        let file = parse(FILE, "f.yaml").unwrap();
        let (runs, mut results) = data(0.5, "done");
        results.get_mut("k1").unwrap()[1].value = 0.25; // loss down: better
        let out = verify(&file, "demo", &runs, &results, &RecordedOn::default());
        let loss = out
            .checks
            .iter()
            .find(|c| c.seed == Some(1) && c.metric == "loss")
            .unwrap();
        assert_eq!(loss.verdict, Verdict::Better);
        assert!(
            out.problems[0].contains("better: lower is better"),
            "{}",
            out.problems[0]
        );
        assert!(!out.passed(false));
        assert!(out.passed(true));
    }

    #[test]
    fn missing_and_failed_runs_are_missing() {
        let file = parse(FILE, "f.yaml").unwrap();
        let (runs, results) = data(0.5, "failed");
        let out = verify(&file, "demo", &runs, &results, &RecordedOn::default());
        assert_eq!(out.count(Verdict::Missing), 3, "{:?}", out.checks); // seed 2's acc and loss, the group's n
        assert!(
            out.problems
                .iter()
                .any(|p| p == "spam/baseline seed 2: missing: the run is failed: out of memory"),
            "{:?}",
            out.problems
        );
        assert!(
            out.problems
                .iter()
                .any(|p| p.contains("acc has 1 done runs, expected 2 (seed 2 is failed)")),
            "{:?}",
            out.problems
        );
        // No run at all.
        let out = verify(&file, "demo", &runs[..1], &results, &RecordedOn::default());
        assert!(
            out.problems
                .iter()
                .any(|p| p == "spam/baseline seed 2: missing: no such run in the experiment"),
            "{:?}",
            out.problems
        );
        assert!(!out.passed(true));
    }

    #[test]
    fn changed_keys_and_unexpected_results_are_notes() {
        let file = parse(&FILE.replace("key: k1", "key: old"), "f.yaml").unwrap();
        let (mut runs, mut results) = data(0.5, "done");
        runs.push(run("k3", "spam", "cross_head", 1, "done"));
        results.insert("k3".into(), rows(0.9, 0.1));
        results.get_mut("k1").unwrap().push(ResultRow {
            split: "dev".into(),
            name: "f1".into(),
            value: 0.3,
        });
        let out = verify(&file, "other", &runs, &results, &RecordedOn::default());
        assert!(out.passed(false), "{:?}", out.problems);
        let notes = out.notes.join("\n");
        assert!(notes.contains("recorded from experiment `demo`"), "{notes}");
        assert!(notes.contains("1 runs have another key than recorded (their settings differ from when the expectations were recorded): spam/baseline seed 1: old → k1"), "{notes}");
        assert!(
            notes.contains("spam/baseline seed 1: not checked (not in the expected file): f1"),
            "{notes}"
        );
        assert!(notes.contains("1 done runs have no expectations (`--update` records them): spam/cross_head seed 1"), "{notes}");
        assert!(notes.contains("1 groups have no expectations"), "{notes}");
    }
}
