//! `--update`: a new expected file from the current results, keeping the old file's header and
//! tolerances, and the list of what changed.

use super::expected::{default_header, ExpectedFile, GroupEntry, GroupMetric, GroupSection};
use super::expected::{Identity, RunEntry, RunMetric, RunSection};
use super::is_done;
use super::recorded::RecordedOn;
use super::show::{show, show_diff};
use super::tolerance::Tolerance;
use super::verify::{find_run, group_values, metrics_of};
use crate::analysis::Setting;
use crate::stats::summary::{mean, std_dev};
use crate::store::{ResultRow, RunRow};
use std::collections::{BTreeMap, HashMap};

/// Which sections `--update` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Record {
    /// One entry per run (the default for a new file).
    Runs,
    /// One entry per task, variant and sweep point: mean and std across seeds.
    Groups,
    /// Both.
    Both,
}

/// Tolerance of the float results of a new `runs` section (discrete results stay exact):
/// 1e-6 relative (about 8 float32 epsilons), with a floor of 1e-7 absolute for values near
/// zero. Measured with bench/kernel_variation.sh (README, "Regression checks"): other CPU
/// kernels and thread counts moved the smoke results by at most 2.3e-8 relative, 44 times less;
/// every real change tried (learning rate +1%, one step more, cross-head p or dropout +10%,
/// another seed) by at least 1.5e-4, 148 times more.
pub const DEFAULT_RUN_TOLERANCE: Tolerance = Tolerance {
    abs: Some(1e-7),
    rel: Some(1e-6),
    std_errors: None,
};

/// Tolerance of a new `groups` section: 3 standard errors of the difference of means, at least
/// 1e-9 (which is what remains when all seeds agree or a group has one run).
pub const DEFAULT_GROUP_TOLERANCE: Tolerance = Tolerance {
    abs: Some(1e-9),
    rel: None,
    std_errors: Some(3.0),
};

/// The rewritten file and what changed.
#[derive(Debug, Clone)]
pub struct Update {
    pub file: ExpectedFile,
    /// `+ added`, `- removed`, `~ changed` lines, in file order.
    pub changes: Vec<String>,
    /// Runs or metrics that could not be recorded, and why.
    pub warnings: Vec<String>,
}

/// The first run of each distinct (task, sweep point, variant, seed) in grid order, without the
/// seed unless `seeds`: one run per run entry, or one per group.
fn firsts<'a>(runs: &'a [RunRow], seeds: bool) -> Vec<&'a RunRow> {
    let mut seen = Vec::new();
    let mut first = |r: &&'a RunRow| {
        let id = (Setting::of(r), &r.variant, seeds.then_some(r.seed));
        let new = !seen.contains(&id);
        if new {
            seen.push(id);
        }
        new
    };
    runs.iter().filter(|r| first(r)).collect()
}

/// For an entry that cannot be recorded now (`why`, after its label): keeps its old
/// expectations when there are some, and says so.
fn keep_old<E: Clone>(
    old: Option<&E>,
    why: &str,
    entries: &mut Vec<E>,
    warnings: &mut Vec<String>,
) {
    match old {
        Some(e) => {
            warnings.push(format!("{why}; kept its old expectations"));
            entries.push(e.clone());
        }
        None => warnings.push(format!("{why}; not recorded")),
    }
}

/// The runs section: one entry per run, its old tolerances kept.
fn run_section(
    old: Option<&RunSection>,
    runs: &[RunRow],
    results: &HashMap<String, Vec<ResultRow>>,
    warnings: &mut Vec<String>,
) -> RunSection {
    let mut entries = Vec::new();
    for first in firsts(runs, true) {
        let mut entry = RunEntry::of(first);
        let label = entry.label();
        let old_entry = old.and_then(|s| s.entries.iter().find(|e| e.same(&entry)));
        entry.key = old_entry.and_then(|e| e.key.clone());
        let run = find_run(&entry, runs)
            .0
            .expect("an identity comes from a run");
        if !is_done(run) {
            let why = format!("{label}: the run is {}", run.status);
            keep_old(old_entry, &why, &mut entries, warnings);
            continue;
        }
        for (metric, value) in metrics_of(results, run) {
            if !value.is_finite() {
                warnings.push(format!(
                    "{label}: {metric} is not a finite number; not recorded"
                ));
                continue;
            }
            let tolerance = old_entry.and_then(|e| e.metrics.get(&metric)?.tolerance);
            entry.metrics.insert(metric, RunMetric { value, tolerance });
        }
        if entry.metrics.is_empty() {
            warnings.push(format!(
                "{label}: the run has no final metrics; not recorded"
            ));
            continue;
        }
        entry.key = Some(run.run_key.clone());
        entries.push(entry);
    }
    RunSection {
        tolerance: old
            .and_then(|s| s.tolerance)
            .or(Some(DEFAULT_RUN_TOLERANCE)),
        discrete_tolerance: old.and_then(|s| s.discrete_tolerance),
        entries,
    }
}

/// The groups section: mean, std and n of each metric across the done seeds, the old
/// tolerances kept.
fn group_section(
    old: Option<&GroupSection>,
    runs: &[RunRow],
    results: &HashMap<String, Vec<ResultRow>>,
    warnings: &mut Vec<String>,
) -> GroupSection {
    let tolerance = old
        .and_then(|s| s.tolerance)
        .or(Some(DEFAULT_GROUP_TOLERANCE));
    let mut entries = Vec::new();
    for first in firsts(runs, false) {
        let mut entry = GroupEntry::of(first);
        let label = entry.label();
        let old_entry = old.and_then(|s| s.entries.iter().find(|e| e.same(&entry)));
        let (members, values) = group_values(&entry, runs, results);
        if !members.iter().any(|r| is_done(r)) {
            keep_old(
                old_entry,
                &format!("{label}: no done runs"),
                &mut entries,
                warnings,
            );
            continue;
        }
        for (metric, vs) in values {
            if vs.iter().any(|v| !v.is_finite()) {
                warnings.push(format!(
                    "{label}: {metric} is not a finite number in every run; not recorded"
                ));
                continue;
            }
            let n = vs.len();
            let std = (n >= 2).then(|| std_dev(&vs));
            let old_metric = old_entry.and_then(|e| e.metrics.get(&metric));
            let mut own = old_metric.and_then(|m| m.tolerance);
            let effective = own.or(tolerance).expect("a default tolerance");
            if effective.std_errors.is_some()
                && effective.abs.is_none()
                && effective.rel.is_none()
                && std.is_none()
            {
                // One run: no standard error; fall back to the default's floor.
                let floor = Tolerance::absolute(DEFAULT_GROUP_TOLERANCE.abs.unwrap_or(0.0));
                warnings.push(format!(
                    "{label}: {metric} has a single run; recorded with tolerance {floor}"
                ));
                own = Some(floor);
            }
            let std_tolerance = old_metric
                .and_then(|m| m.std_tolerance)
                .filter(|_| std.is_some());
            let (mean, tolerance) = (mean(&vs), own);
            entry.metrics.insert(
                metric,
                GroupMetric {
                    mean,
                    std,
                    n,
                    tolerance,
                    std_tolerance,
                },
            );
        }
        if !entry.metrics.is_empty() {
            entries.push(entry);
        }
    }
    let std_tolerance = old.and_then(|s| s.std_tolerance);
    GroupSection {
        tolerance,
        std_tolerance,
        entries,
    }
}

/// Builds the new file from the runs and results of `experiment`; `old` is the current file,
/// `record` overrides which sections to write (else the old file's, else runs only);
/// `recorded_on` is where the done runs ran, written into the new file.
pub fn update(
    old: Option<&ExpectedFile>,
    experiment: &str,
    runs: &[RunRow],
    results: &HashMap<String, Vec<ResultRow>>,
    record: Option<Record>,
    recorded_on: RecordedOn,
) -> Update {
    let (want_runs, want_groups) = match (record, old) {
        (Some(Record::Runs), _) => (true, false),
        (Some(Record::Groups), _) => (false, true),
        (Some(Record::Both), _) => (true, true),
        (None, Some(f)) if f.runs.is_some() || f.groups.is_some() => {
            (f.runs.is_some(), f.groups.is_some())
        }
        (None, _) => (true, false),
    };
    let mut warnings = Vec::new();
    let old_runs = old.and_then(|f| f.runs.as_ref());
    let runs_section = want_runs.then(|| run_section(old_runs, runs, results, &mut warnings));
    let old_groups = old.and_then(|f| f.groups.as_ref());
    let groups_section =
        want_groups.then(|| group_section(old_groups, runs, results, &mut warnings));
    let machine_changes = match old.and_then(|f| f.recorded_on.as_ref()) {
        Some(before) => before.differences(&recorded_on),
        None => vec![format!("recorded on {}", recorded_on.describe())],
    };
    let file = ExpectedFile {
        experiment: Some(experiment.to_string()),
        recorded_on: Some(recorded_on),
        runs: runs_section,
        groups: groups_section,
        header: match old {
            Some(f) if !f.header.is_empty() => f.header.clone(),
            _ => default_header(experiment),
        },
    };
    let mut changes = changes(old, &file);
    changes.extend(
        machine_changes
            .into_iter()
            .map(|c| format!("~ recorded_on: {c}")),
    );
    Update {
        file,
        changes,
        warnings,
    }
}

/// An entry of either section, as [`changes`] compares them.
trait Entry: Identity {
    /// Why an old entry is no longer written.
    const GONE: &'static str;
    /// Each metric's recorded numbers, each with its prefix in the change lines.
    fn numbers(&self) -> BTreeMap<&str, Vec<(&'static str, f64)>>;
    /// A change of the entry itself (not of its metrics).
    fn changed(&self, _old: &Self) -> Option<String> {
        None
    }
}

impl Entry for RunEntry {
    const GONE: &'static str = "no such run in the experiment";
    fn numbers(&self) -> BTreeMap<&str, Vec<(&'static str, f64)>> {
        (self.metrics.iter())
            .map(|(k, m)| (k.as_str(), vec![("", m.value)]))
            .collect()
    }
    fn changed(&self, old: &Self) -> Option<String> {
        let key = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
        (old.key != self.key).then(|| {
            format!(
                "{}: run key {} → {}",
                self.label(),
                key(&old.key),
                key(&self.key)
            )
        })
    }
}

impl Entry for GroupEntry {
    const GONE: &'static str = "no done runs in the experiment";
    fn numbers(&self) -> BTreeMap<&str, Vec<(&'static str, f64)>> {
        let numbers = |m: &GroupMetric| {
            let std = m.std.map(|s| ("std ", s));
            [Some(("mean ", m.mean)), std, Some(("n ", m.n as f64))]
                .into_iter()
                .flatten()
                .collect()
        };
        (self.metrics.iter())
            .map(|(k, m)| (k.as_str(), numbers(m)))
            .collect()
    }
}

/// The change lines of one section (`name`), given as its entries and tolerance before and
/// after.
fn section_changes<E: Entry>(
    name: &str,
    old: Option<(&[E], Option<Tolerance>)>,
    new: Option<(&[E], Option<Tolerance>)>,
    out: &mut Vec<String>,
) {
    let Some((new, tolerance)) = new else {
        out.extend(old.map(|_| format!("- {name} section")));
        return;
    };
    if old.is_none() {
        let tolerance = tolerance.map_or("none".into(), |t| t.to_string());
        out.push(format!("+ {name} section (tolerance {tolerance})"));
    }
    let old = old.map_or(&[][..], |(entries, _)| entries);
    for e in new {
        let (label, after) = (e.label(), e.numbers());
        let Some(o) = old.iter().find(|o| o.same(e)) else {
            let metrics: Vec<&str> = after.keys().copied().collect();
            out.push(format!("+ {label} ({})", metrics.join(", ")));
            continue;
        };
        out.extend(e.changed(o).map(|c| format!("~ {c}")));
        let before = o.numbers();
        for (metric, numbers) in &after {
            let Some(was) = before.get(metric) else {
                let shown: Vec<String> = numbers
                    .iter()
                    .map(|(k, v)| format!("{k}{}", show(*v)))
                    .collect();
                out.push(format!("+ {label}: {metric} {}", shown.join(" ")));
                continue;
            };
            for (k, v) in numbers {
                match was.iter().find(|(bk, _)| bk == k).map(|(_, w)| *w) {
                    Some(w) if w.to_bits() == v.to_bits() => {}
                    Some(w) => out.push(format!(
                        "~ {label}: {metric} {k}{} → {} ({})",
                        show(w),
                        show(*v),
                        show_diff(v - w)
                    )),
                    None => out.push(format!("+ {label}: {metric} {k}{}", show(*v))),
                }
            }
        }
        for metric in before.keys().filter(|m| !after.contains_key(*m)) {
            out.push(format!("- {label}: {metric} (no longer recorded)"));
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|e| e.same(o))) {
        out.push(format!("- {} ({})", o.label(), E::GONE));
    }
}

/// What differs between `old` and `new`, one line per change.
pub fn changes(old: Option<&ExpectedFile>, new: &ExpectedFile) -> Vec<String> {
    fn runs(f: &ExpectedFile) -> Option<(&[RunEntry], Option<Tolerance>)> {
        f.runs.as_ref().map(|s| (&s.entries[..], s.tolerance))
    }
    fn groups(f: &ExpectedFile) -> Option<(&[GroupEntry], Option<Tolerance>)> {
        f.groups.as_ref().map(|s| (&s.entries[..], s.tolerance))
    }
    let mut out = Vec::new();
    section_changes("runs", old.and_then(runs), runs(new), &mut out);
    section_changes("groups", old.and_then(groups), groups(new), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::expected::parse;
    use crate::check::verify::verify;

    /// A run of the `spam` task.
    fn run(key: &str, variant: &str, seed: i64, status: &str) -> RunRow {
        crate::check::verify::tests::run(key, "spam", variant, seed, status)
    }

    fn acc(v: f64) -> Vec<ResultRow> {
        vec![ResultRow {
            split: "dev".into(),
            name: "acc".into(),
            value: v,
        }]
    }

    #[test]
    fn a_new_file_passes_and_an_update_keeps_tolerances() {
        let runs = vec![
            run("k1", "baseline", 1, "done"),
            run("k2", "baseline", 2, "done"),
            run("k3", "cross_head", 1, "failed"),
        ];
        let mut results: HashMap<String, Vec<ResultRow>> =
            [("k1".to_string(), acc(0.75)), ("k2".to_string(), acc(0.5))].into();
        let u = update(
            None,
            "demo",
            &runs,
            &results,
            Some(Record::Both),
            RecordedOn::default(),
        );
        assert!(
            u.warnings
                .iter()
                .any(|w| w == "spam/cross_head seed 1: the run is failed; not recorded"),
            "{:?}",
            u.warnings
        );
        assert!(
            u.changes
                .contains(&"+ spam/baseline seed 1 (acc)".to_string()),
            "{:?}",
            u.changes
        );
        let text = u.file.to_yaml();
        let file = parse(&text, "new.yaml").unwrap();
        assert!(
            verify(&file, "demo", &runs, &results, &RecordedOn::default()).passed(false),
            "{text}"
        );
        assert!(
            text.starts_with("# Expected final results of experiment `demo`"),
            "{text}"
        );
        assert_eq!(
            file.groups.as_ref().and_then(|g| g.tolerance),
            Some(DEFAULT_GROUP_TOLERANCE),
            "{text}"
        );
        assert!(
            text.contains("  tolerance:\n    abs: 1e-9\n    std_errors: 3.0\n"),
            "{text}"
        );

        // A hand-set tolerance survives the next update; the changed value is reported.
        let edited = text.replace("acc: 0.5\n", "acc: {value: 0.5, tolerance: {abs: 0.01}}\n");
        let old = parse(&edited, "old.yaml").unwrap();
        results.insert("k2".into(), acc(0.5625));
        let u = update(
            Some(&old),
            "demo",
            &runs,
            &results,
            None,
            RecordedOn::default(),
        );
        let e = &u.file.runs.as_ref().unwrap().entries[1];
        assert_eq!(
            e.metrics["acc"],
            RunMetric {
                value: 0.5625,
                tolerance: Some(Tolerance::absolute(0.01))
            }
        );
        assert!(
            u.changes
                .contains(&"~ spam/baseline seed 2: acc 0.5 → 0.5625 (+0.0625)".to_string()),
            "{:?}",
            u.changes
        );
        assert!(
            u.changes
                .iter()
                .any(|c| c.starts_with("~ spam/baseline: acc mean 0.625 → 0.65625")),
            "{:?}",
            u.changes
        );
        // An unchanged update reports nothing.
        let again = update(
            Some(&u.file),
            "demo",
            &runs,
            &results,
            None,
            RecordedOn::default(),
        );
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        assert_eq!(again.file.to_yaml(), u.file.to_yaml());
    }

    #[test]
    fn runs_that_are_not_done_keep_their_old_expectations() {
        let runs = vec![run("k1", "baseline", 1, "done")];
        let results: HashMap<String, Vec<ResultRow>> = [("k1".to_string(), acc(0.75))].into();
        let old = update(None, "demo", &runs, &results, None, RecordedOn::default()).file;
        let requeued = vec![run("k1", "baseline", 1, "queued")];
        let u = update(
            Some(&old),
            "demo",
            &requeued,
            &HashMap::new(),
            None,
            RecordedOn::default(),
        );
        assert_eq!(
            u.file.runs.as_ref().unwrap().entries,
            old.runs.as_ref().unwrap().entries
        );
        assert!(
            u.warnings[0].contains("kept its old expectations"),
            "{:?}",
            u.warnings
        );
        // A run gone from the experiment is removed.
        let u = update(
            Some(&old),
            "demo",
            &[run("k9", "baseline", 7, "done")],
            &[("k9".to_string(), acc(1.0))].into(),
            None,
            RecordedOn::default(),
        );
        assert!(
            u.changes
                .contains(&"- spam/baseline seed 1 (no such run in the experiment)".to_string()),
            "{:?}",
            u.changes
        );
    }
}
