//! Compares the store's results of an experiment with an expected file (pure: no I/O).

use super::expected::{
    group_label, run_label, split_label, sweep_of_json, ExpectedFile, GroupEntry, GroupSection,
    RunEntry, RunSection, Sweep,
};
use super::is_done;
use super::recorded::RecordedOn;
use super::show::{show, show_diff};
use super::tolerance::{judge, standard_error, Tolerance, Verdict};
use crate::analysis::{
    direction, is_discrete, result_kind, Direction, ResultKind, MAJORITY_PREFIX,
};
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

/// Counts of checks by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub better: usize,
    pub worse: usize,
    pub changed: usize,
    pub missing: usize,
}

impl Outcome {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for check in &self.checks {
            match check.verdict {
                Verdict::Pass => c.pass += 1,
                Verdict::Better => c.better += 1,
                Verdict::Worse => c.worse += 1,
                Verdict::Changed => c.changed += 1,
                Verdict::Missing => c.missing += 1,
            }
        }
        c
    }

    /// Whether every check holds (improvements too when `allow_better`).
    pub fn passed(&self, allow_better: bool) -> bool {
        self.checks.iter().all(|c| !c.verdict.fails(allow_better))
    }
}

/// Speed and memory (ms per step, tokens per second, peak memory) are measurements of the
/// machine, not results: they differ from run to run and are benchmarked, never checked. Facts
/// of the run (parameter counts, skipped-layer fractions) are deterministic and are checked.
pub fn is_measurement(name: &str) -> bool {
    result_kind(name) == ResultKind::Measurement
}

/// The final metrics of one run by label, without the majority-class rows and measurements.
pub fn run_metrics(rows: &[ResultRow]) -> BTreeMap<String, f64> {
    rows.iter()
        .filter(|r| !r.name.starts_with(MAJORITY_PREFIX) && !is_measurement(&r.name))
        .map(|r| {
            let label = if r.split == "dev" {
                r.name.clone()
            } else {
                format!("{}/{}", r.split, r.name)
            };
            (label, r.value)
        })
        .collect()
}

/// The stored run an entry stands for: the one with the recorded key, else the done run that
/// finished last among those with the entry's task, variant, seed and sweep point, else any of
/// them. Also says how many runs had that identity.
pub fn find_run<'a>(entry: &RunEntry, runs: &'a [RunRow]) -> (Option<&'a RunRow>, usize) {
    let same: Vec<&RunRow> = runs
        .iter()
        .filter(|r| entry.same_run(&r.task, &r.variant, r.seed, &sweep_of_json(&r.sweep)))
        .collect();
    if let Some(key) = &entry.key {
        if let Some(r) = same.iter().find(|r| &r.run_key == key) {
            return (Some(r), same.len());
        }
    }
    let chosen = same
        .iter()
        .filter(|r| is_done(r))
        .max_by(|a, b| a.finished_at.cmp(&b.finished_at))
        .or(same.first())
        .copied();
    (chosen, same.len())
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

/// Which way is better: the metric's own direction for values and means, lower for spreads,
/// none for counts.
fn direction_of(label: &str, statistic: Statistic) -> Option<Direction> {
    match statistic {
        Statistic::Value | Statistic::Mean => {
            split_label(label).and_then(|(_, name)| direction(name))
        }
        Statistic::Std => Some(Direction::Lower),
        Statistic::N => None,
    }
}

fn moved_sentence(c: &Check) -> String {
    let what = match c.statistic {
        Statistic::Value => c.metric.clone(),
        Statistic::Mean => format!("mean {}", c.metric),
        Statistic::Std => format!("std of {}", c.metric),
        Statistic::N => format!("n of {}", c.metric),
    };
    let actual = c.actual.map_or("not a number".to_string(), show);
    let how = match (c.verdict, c.direction) {
        (Verdict::Better, Some(d)) => format!("better: {}", d.phrase()),
        (Verdict::Worse, Some(d)) => format!("worse: {}", d.phrase()),
        (Verdict::Worse, None) => "not a finite number".to_string(),
        _ => "changed; no better direction is known".to_string(),
    };
    let diff = c
        .difference
        .map_or(String::new(), |d| format!("{}, ", show_diff(d)));
    let tolerance = match (c.tolerance, c.allowed) {
        (Some(t), Some(a)) if t.std_errors.is_some() => format!("{t} = {}", show(a)),
        (Some(t), _) => t.to_string(),
        _ => "none".to_string(),
    };
    format!(
        "{}: {what} moved from {} to {actual} ({diff}{how}), beyond the tolerance {tolerance}",
        c.entry,
        show(c.expected)
    )
}

/// The check of `metric`'s `statistic` of `template`'s entry, not yet compared.
fn unmet(
    template: &Check,
    metric: &str,
    statistic: Statistic,
    expected: f64,
    tolerance: Option<Tolerance>,
) -> Check {
    Check {
        metric: metric.to_string(),
        statistic,
        expected,
        tolerance,
        direction: direction_of(metric, statistic),
        ..template.clone()
    }
}

fn is_discrete_label(label: &str) -> bool {
    split_label(label).is_some_and(|(_, name)| is_discrete(name))
}

struct Builder<'a> {
    runs: &'a [RunRow],
    results: &'a HashMap<String, Vec<ResultRow>>,
    out: Outcome,
    /// `label: old → new` for runs found under another key than recorded.
    key_changes: Vec<String>,
}

impl Builder<'_> {
    /// Compares `actual` with `c.expected` under `c.tolerance` (`se`: the standard error for
    /// `std_errors`), records the check and a problem sentence when it fails.
    fn compare(&mut self, mut c: Check, actual: f64, se: Option<f64>) -> Verdict {
        let allowed = match c.tolerance {
            Some(t) => t.allowed(c.expected, se).ok(),
            None => Some(0.0),
        };
        c.actual = actual.is_finite().then_some(actual);
        c.allowed = allowed;
        c.difference = actual.is_finite().then_some(actual - c.expected);
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
        if c.verdict != Verdict::Pass {
            self.out.problems.push(moved_sentence(&c));
        }
        let verdict = c.verdict;
        self.out.checks.push(c);
        verdict
    }

    fn missing(&mut self, mut c: Check, note: &str) {
        c.note = Some(note.to_string());
        self.out.checks.push(c);
    }

    fn run_entry(
        &mut self,
        entry: &RunEntry,
        section: &RunSection,
        matched: &mut BTreeSet<String>,
    ) {
        // Float results take the section's tolerance; discrete ones are exact unless told.
        let tolerance_of = |label: &str, own: Option<Tolerance>| {
            own.or(if is_discrete_label(label) {
                section.discrete_tolerance.or(Some(Tolerance::EXACT))
            } else {
                section.tolerance
            })
        };
        let (run, same) = find_run(entry, self.runs);
        let template = Check {
            seed: Some(entry.seed),
            run_key: run.map(|r| r.run_key.clone()),
            ..template(
                EntryKind::Run,
                entry.label(),
                &entry.task,
                &entry.variant,
                &entry.sweep,
            )
        };
        let run = match run {
            Some(r) if is_done(r) => r,
            _ => {
                let note = match run.map(|r| (r, r.error.as_deref().and_then(|e| e.lines().next())))
                {
                    None => "no such run in the experiment".to_string(),
                    Some((r, Some(err))) => format!("the run is {}: {err}", r.status),
                    Some((r, None)) => format!("the run is {}", r.status),
                };
                self.out
                    .problems
                    .push(format!("{}: missing: {note}", entry.label()));
                for (label, m) in &entry.metrics {
                    let tolerance = tolerance_of(label, m.tolerance);
                    let c = unmet(&template, label, Statistic::Value, m.value, tolerance);
                    self.missing(c, &note);
                }
                return;
            }
        };
        matched.insert(run.run_key.clone());
        if let Some(key) = entry.key.as_ref().filter(|k| *k != &run.run_key) {
            self.key_changes
                .push(format!("{}: {key} → {}", entry.label(), run.run_key));
        }
        if same > 1 {
            self.out.notes.push(format!(
                "{}: {same} runs of the experiment have this task, variant, seed and sweep point (with different settings); compared {}",
                entry.label(),
                run.run_key
            ));
        }
        let values = run_metrics(self.results.get(&run.run_key).map_or(&[][..], |v| v));
        for (label, m) in &entry.metrics {
            let tolerance = tolerance_of(label, m.tolerance);
            let c = unmet(&template, label, Statistic::Value, m.value, tolerance);
            let Some(&actual) = values.get(label) else {
                self.out.problems.push(format!(
                    "{}: expected metric {label} = {}, but the run recorded no such metric (it has: {})",
                    entry.label(),
                    show(m.value),
                    values.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                self.missing(c, "the run recorded no such metric");
                continue;
            };
            let verdict = self.compare(c, actual, None);
            if verdict != Verdict::Pass && is_discrete_label(label) && actual.is_finite() {
                let why = flip_sentence(label, m.value, actual, &values);
                if let Some(p) = self.out.problems.last_mut() {
                    p.push_str(&format!(": {why}"));
                }
                if let Some(c) = self.out.checks.last_mut() {
                    c.note = Some(why);
                }
            }
        }
        let extra: Vec<&str> = values
            .keys()
            .filter(|k| !entry.metrics.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            self.out.notes.push(format!(
                "{}: not checked (not in the expected file): {}",
                entry.label(),
                extra.join(", ")
            ));
        }
    }

    fn group_entry(&mut self, entry: &GroupEntry, section: &GroupSection) {
        let members: Vec<&RunRow> = self
            .runs
            .iter()
            .filter(|r| entry.same_group(&r.task, &r.variant, &sweep_of_json(&r.sweep)))
            .collect();
        let not_done: Vec<String> = members
            .iter()
            .filter(|r| !is_done(r))
            .map(|r| format!("seed {} is {}", r.seed, r.status))
            .collect();
        let template = template(
            EntryKind::Group,
            entry.label(),
            &entry.task,
            &entry.variant,
            &entry.sweep,
        );
        for (label, m) in &entry.metrics {
            let values: Vec<f64> = members
                .iter()
                .filter(|r| is_done(r))
                .filter_map(|r| {
                    run_metrics(self.results.get(&r.run_key).map_or(&[][..], |v| v))
                        .get(label)
                        .copied()
                })
                .collect();
            let n = values.len();
            // n: fewer done runs than recorded is missing, more is a change.
            let exact = Some(Tolerance::EXACT);
            let mut c = unmet(&template, label, Statistic::N, m.n as f64, exact);
            c.actual = Some(n as f64);
            c.difference = Some(n as f64 - m.n as f64);
            c.allowed = Some(0.0);
            c.verdict = match n.cmp(&m.n) {
                std::cmp::Ordering::Equal => Verdict::Pass,
                std::cmp::Ordering::Less => Verdict::Missing,
                std::cmp::Ordering::Greater => Verdict::Changed,
            };
            if c.verdict != Verdict::Pass {
                let why = if not_done.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", not_done.join(", "))
                };
                c.note = Some(format!("{n} done runs with {label}, expected {}{why}", m.n));
                self.out.problems.push(format!(
                    "{}: {label} has {n} done runs, expected {}{why}",
                    entry.label(),
                    m.n
                ));
            }
            self.out.checks.push(c);
            let tolerance = m.tolerance.or(section.tolerance);
            let c = unmet(&template, label, Statistic::Mean, m.mean, tolerance);
            if n == 0 {
                self.missing(c, "no done run has this metric");
                continue;
            }
            let se = m.std.and_then(|s| standard_error(s, m.n, n));
            self.compare(c, mean(&values), se);
            if let (Some(std), Some(t)) = (m.std, m.std_tolerance.or(section.std_tolerance)) {
                let c = unmet(&template, label, Statistic::Std, std, Some(t));
                self.compare(c, std_dev(&values), None);
            }
        }
    }
}

/// A check of `entry` (its label, task, variant and sweep point) before it says what it checks.
fn template(kind: EntryKind, entry: String, task: &str, variant: &str, sweep: &Sweep) -> Check {
    Check {
        kind,
        entry,
        task: task.to_string(),
        variant: variant.to_string(),
        sweep: sweep.clone(),
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
    let mut b = Builder {
        runs,
        results,
        out: Outcome {
            recorded_on: file.recorded_on.clone(),
            running_on: running_on.clone(),
            machine_differences: file
                .recorded_on
                .as_ref()
                .map_or_else(Vec::new, |r| r.differences(running_on)),
            ..Outcome::default()
        },
        key_changes: Vec::new(),
    };
    if let Some(name) = file.experiment.as_ref().filter(|name| *name != experiment) {
        b.out.notes.push(format!(
            "the expected file was recorded from experiment `{name}`; checking `{experiment}` against it"
        ));
    }
    let done = || runs.iter().filter(|r| is_done(r));
    if let Some(section) = &file.runs {
        let mut matched = BTreeSet::new();
        for entry in &section.entries {
            b.run_entry(entry, section, &mut matched);
        }
        if !b.key_changes.is_empty() {
            let note = format!(
                "{} runs have another key than recorded (their settings differ from when the expectations were recorded): {}",
                b.key_changes.len(),
                abbreviate(&b.key_changes)
            );
            b.out.notes.push(note);
        }
        let unchecked: Vec<String> = done()
            .filter(|r| !matched.contains(&r.run_key))
            .map(|r| run_label(&r.task, &r.variant, r.seed, &sweep_of_json(&r.sweep)))
            .collect();
        if !unchecked.is_empty() {
            b.out.notes.push(format!(
                "{} done runs have no expectations (`--update` records them): {}",
                unchecked.len(),
                abbreviate(&unchecked)
            ));
        }
    }
    if let Some(section) = &file.groups {
        for entry in &section.entries {
            b.group_entry(entry, section);
        }
        let mut unchecked: Vec<String> = Vec::new();
        for r in done() {
            let sweep = sweep_of_json(&r.sweep);
            let label = group_label(&r.task, &r.variant, &sweep);
            let expected = section
                .entries
                .iter()
                .any(|e| e.same_group(&r.task, &r.variant, &sweep));
            if !expected && !unchecked.contains(&label) {
                unchecked.push(label);
            }
        }
        if !unchecked.is_empty() {
            b.out.notes.push(format!(
                "{} groups have no expectations (`--update` records them): {}",
                unchecked.len(),
                abbreviate(&unchecked)
            ));
        }
    }
    b.out
}

fn abbreviate(items: &[String]) -> String {
    const SHOWN: usize = 6;
    if items.len() <= SHOWN {
        items.join(", ")
    } else {
        format!(
            "{}, and {} more",
            items[..SHOWN].join(", "),
            items.len() - SHOWN
        )
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
        assert_eq!(out.counts().worse, 2, "{:?}", out.problems);
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
        let recorded = RecordedOn::of_runs([r#"{"cpu":"A","cpu_capability":"AVX512"}"#]);
        let running = RecordedOn::of_runs([r#"{"cpu":"B","cpu_capability":"AVX2"}"#]);
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
        assert_eq!(
            out.counts(),
            Counts {
                pass: 7,
                ..Counts::default()
            }
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
        let c = out.counts();
        assert_eq!(c.missing, 3, "{:?}", out.checks); // seed 2's acc and loss, the group's n
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
