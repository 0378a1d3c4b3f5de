//! The outputs of `harness check`: the text table and the JSON document.

use super::tolerance::Verdict;
use super::verify::{Outcome, Statistic};
use serde_json::{json, Value};

/// A value with up to 10 significant digits (all of them when its shortest form is short).
pub fn show(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let shortest = format!("{x:?}");
    if shortest.len() <= 12 {
        return shortest;
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-4..10).contains(&magnitude) {
        let decimals = (9 - magnitude).max(0) as usize;
        let s = format!("{x:.decimals$}");
        let s = s.trim_end_matches('0');
        s.strip_suffix('.').unwrap_or(s).to_string()
    } else {
        format!("{x:.9e}")
    }
}

/// A signed difference with four significant digits: `+0.0625`, `-0.05412`, `-1.234e-12`.
pub fn show_diff(d: f64) -> String {
    if d == 0.0 {
        return "0".into();
    }
    let s = crate::report::format::sig(d);
    let s = if s.contains('e') || !s.contains('.') {
        s
    } else {
        let t = s.trim_end_matches('0');
        t.strip_suffix('.').unwrap_or(t).to_string()
    };
    if d > 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

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
    let mut rows: Vec<[String; 8]> = Vec::new();
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
        rows.push([
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
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Numbers right-aligned, text left-aligned.
            if (3..6).contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < cells.len() {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "harness check: experiment {} against {} (database {})\n\n",
        ctx.experiment, ctx.expected_file, ctx.db
    );
    out.push_str(&line(&header.map(String::from)));
    for row in &rows {
        out.push_str(&line(row));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(show(0.5), "0.5");
        assert_eq!(show(0.6614072471857071), "0.6614072472");
        assert_eq!(show(1234.5678901234), "1234.56789");
        assert_eq!(show(1.0), "1.0");
        assert_eq!(show(0.0), "0");
        assert_eq!(show(f64::NAN), "NaN");
        assert_eq!(show_diff(-0.0625), "-0.0625");
        assert_eq!(show_diff(0.0625), "+0.0625");
        assert_eq!(show_diff(1.2344e-12), "+1.234e-12");
        assert_eq!(show_diff(-3e-5), "-3.000e-5");
        assert_eq!(show_diff(0.0), "0");
        assert_eq!(show_diff(-0.05411814153), "-0.05412");
        assert_eq!(show_diff(0.0001155287027), "+0.0001155");
        assert_eq!(show_diff(12.0), "+12");
    }
}
