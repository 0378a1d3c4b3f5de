//! The outputs of `harness check`: the text table and the JSON document.

use super::recorded::RecordedOn;
use super::show::{show, show_diff};
use super::tolerance::Verdict;
use super::verify::{Check, Outcome};
use crate::output::{name_of, Table};
use serde::Serialize;
use std::collections::BTreeMap;

/// What was compared, for the first lines of both outputs.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub experiment: &'a str,
    pub expected_file: &'a str,
    pub db: &'a str,
    pub allow_better: bool,
}

/// The aligned table, then the verdict, the problems and the notes.
pub fn table(outcome: &Outcome, ctx: &Context) -> String {
    let mut table = Table::new(
        &[
            "entry",
            "metric",
            "stat",
            "expected",
            "actual",
            "difference",
            "tolerance",
            "result",
        ],
        &[false, false, false, true, true, true, false, false],
    );
    for c in &outcome.checks {
        let result = match c.verdict {
            Verdict::Pass => "ok".to_string(),
            Verdict::Better if ctx.allow_better => "better (allowed)".to_string(),
            v => name_of(&v).to_uppercase(),
        };
        table.push(vec![
            c.entry.clone(),
            c.metric.clone(),
            name_of(&c.statistic),
            show(c.expected),
            c.actual.map_or_else(|| "—".to_string(), show),
            c.difference.map_or_else(String::new, show_diff),
            c.tolerance_text("(= ", ")").unwrap_or_default(),
            result,
        ]);
    }
    let mut out = format!(
        "harness check: experiment {} against {} (database {})\n\n{}\n",
        ctx.experiment,
        ctx.expected_file,
        ctx.db,
        table.text()
    );
    let (total, better) = (outcome.checks.len(), outcome.count(Verdict::Better));
    let allowed = if ctx.allow_better { better } else { 0 };
    if outcome.passed(ctx.allow_better) {
        let better = match better {
            0 => String::new(),
            n => format!(" ({n} better, allowed by --allow-better)"),
        };
        out.push_str(&format!("PASS: all {total} checks hold{better}\n"));
    } else {
        // Checks that fail, by verdict (improvements allowed by --allow-better do not).
        let failed = |v: Verdict| outcome.count(v) - if v == Verdict::Better { allowed } else { 0 };
        let parts: Vec<String> = (Verdict::ALL.iter())
            .filter(|&&v| v != Verdict::Pass && failed(v) > 0)
            .map(|&v| format!("{} {}", failed(v), name_of(&v)))
            .collect();
        let failing = total - outcome.count(Verdict::Pass) - allowed;
        out.push_str(&format!(
            "FAIL: {failing} of {total} checks ({})\n",
            parts.join(", ")
        ));
    }
    for p in &outcome.problems {
        out.push_str(&format!("  - {p}\n"));
    }
    if let Some(machine) = machine_sentence(outcome) {
        out.push_str(&format!("{machine}\n"));
    }
    for n in &outcome.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// Where the expectations were recorded against where the runs ran: said whenever the two
/// differ, and for every failure, so that a reader knows whether to suspect the machine or the
/// change.
pub fn machine_sentence(outcome: &Outcome) -> Option<String> {
    let failed = outcome.checks.iter().any(|c| c.verdict != Verdict::Pass);
    let running = outcome.running_on.describe();
    match &outcome.recorded_on {
        Some(recorded) if !outcome.machine_differences.is_empty() => Some(format!(
            "machine: recorded on {}; running on {running} (differs: {}). Float results may move \
             in their last bits on other kernels (within the tolerance); a moved discrete result \
             or a larger move comes from the change.",
            recorded.describe(),
            outcome.machine_differences.join(", ")
        )),
        Some(_) if failed => Some(format!(
            "machine: recorded and running on {running}: the same machine configuration, so the \
             change moved these results."
        )),
        None if failed => Some(format!(
            "machine: running on {running}; the expected file does not say where it was recorded \
             (`--update` writes `recorded_on`)."
        )),
        _ => None,
    }
}

/// The JSON document (README.md, "Regression checks", lists its fields).
#[derive(Serialize)]
struct Document<'a> {
    experiment: &'a str,
    expected_file: &'a str,
    db: &'a str,
    allow_better: bool,
    passed: bool,
    counts: BTreeMap<String, usize>,
    checks: &'a [Check],
    problems: &'a [String],
    notes: &'a [String],
    recorded_on: &'a Option<RecordedOn>,
    running_on: &'a RecordedOn,
    machine_differences: &'a [String],
    machine: Option<String>,
}

/// The JSON document, its keys in alphabetical order at every level (as it has always printed).
pub fn json(outcome: &Outcome, ctx: &Context) -> String {
    let doc = Document {
        experiment: ctx.experiment,
        expected_file: ctx.expected_file,
        db: ctx.db,
        allow_better: ctx.allow_better,
        passed: outcome.passed(ctx.allow_better),
        counts: outcome.counts(),
        checks: &outcome.checks,
        problems: &outcome.problems,
        notes: &outcome.notes,
        recorded_on: &outcome.recorded_on,
        running_on: &outcome.running_on,
        machine_differences: &outcome.machine_differences,
        machine: machine_sentence(outcome),
    };
    let sorted = serde_json::to_value(doc).expect("JSON of plain data");
    crate::output::json(&sorted).expect("JSON of plain data")
}
