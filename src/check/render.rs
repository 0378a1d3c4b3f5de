//! The outputs of `harness check`: the text table and the JSON document.

use super::show::{show, show_diff};
use super::tolerance::Verdict;
use super::verify::{Outcome, Statistic};
use crate::output::Table;
use serde_json::{json, Value};

fn verdict_cell(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "ok",
        Verdict::Better => "BETTER",
        Verdict::Worse => "WORSE",
        Verdict::Changed => "CHANGED",
        Verdict::Missing => "MISSING",
    }
}

fn statistic_cell(s: Statistic) -> &'static str {
    match s {
        Statistic::Value => "value",
        Statistic::Mean => "mean",
        Statistic::Std => "std",
        Statistic::N => "n",
    }
}

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
    let header = [
        "entry",
        "metric",
        "stat",
        "expected",
        "actual",
        "difference",
        "tolerance",
        "result",
    ];
    let mut table = Table::new(
        &header,
        &[false, false, false, true, true, true, false, false],
    );
    for c in &outcome.checks {
        let tolerance = match (c.tolerance, c.allowed) {
            (Some(t), Some(a)) if t.std_errors.is_some() => format!("{t} (= {})", show(a)),
            (Some(t), _) => t.to_string(),
            (None, _) => String::new(),
        };
        let result = match (c.verdict, c.verdict.fails(ctx.allow_better)) {
            (Verdict::Better, false) => "better (allowed)".to_string(),
            (v, _) => verdict_cell(v).to_string(),
        };
        table.push(vec![
            c.entry.clone(),
            c.metric.clone(),
            statistic_cell(c.statistic).to_string(),
            show(c.expected),
            c.actual.map_or_else(|| "—".to_string(), show),
            c.difference.map_or_else(String::new, show_diff),
            tolerance,
            result,
        ]);
    }
    let mut out = format!(
        "harness check: experiment {} against {} (database {})\n\n",
        ctx.experiment, ctx.expected_file, ctx.db
    );
    out.push_str(&table.text());
    out.push('\n');
    let counts = outcome.counts();
    let total = outcome.checks.len();
    if outcome.passed(ctx.allow_better) {
        let better = if counts.better > 0 {
            format!(" ({} better, allowed by --allow-better)", counts.better)
        } else {
            String::new()
        };
        out.push_str(&format!("PASS: all {total} checks hold{better}\n"));
    } else {
        let mut parts = Vec::new();
        for (n, what) in [
            (counts.worse, "worse"),
            (if ctx.allow_better { 0 } else { counts.better }, "better"),
            (counts.changed, "changed"),
            (counts.missing, "missing"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let failing = total - counts.pass - if ctx.allow_better { counts.better } else { 0 };
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

/// The JSON document (see the module documentation of `check` for its fields).
pub fn json(outcome: &Outcome, ctx: &Context) -> Value {
    json!({
        "experiment": ctx.experiment,
        "expected_file": ctx.expected_file,
        "db": ctx.db,
        "allow_better": ctx.allow_better,
        "passed": outcome.passed(ctx.allow_better),
        "counts": outcome.counts(),
        "checks": outcome.checks,
        "problems": outcome.problems,
        "notes": outcome.notes,
        "recorded_on": outcome.recorded_on,
        "running_on": outcome.running_on,
        "machine_differences": outcome.machine_differences,
        "machine": machine_sentence(outcome),
    })
}
