//! The comparison laid out: aligned text and Markdown tables, one CSV table, JSON.

use super::{Block, Cell, ColumnSummary, CompareFormat};
use crate::analysis::Direction;
use crate::output::{inline::csv_number, Table};
use crate::report::format::{p_value, percent, sig, value, NA};
use serde::Serialize;

/// Renders blocks in `format`.
pub fn render(experiments: &[String], blocks: &[Block], format: CompareFormat) -> String {
    match format {
        CompareFormat::Table => text(blocks, false),
        CompareFormat::Md => text(blocks, true),
        CompareFormat::Csv => csv(blocks),
        CompareFormat::Json => {
            let doc = Document {
                blocks: blocks.iter().map(BlockJson::of).collect(),
                experiments,
            };
            crate::output::json(&doc).unwrap_or_default()
        }
    }
}

fn title(b: &Block) -> String {
    let dir = b
        .direction
        .map_or(String::new(), |d| format!(" ({})", d.phrase()));
    format!(
        "{} {}{dir}, reference: {}",
        b.setting,
        b.metric.label(),
        b.columns[b.reference].name
    )
}

/// One row per column value (a label, then the columns).
fn row(label: &str, cells: impl Iterator<Item = String>) -> Vec<String> {
    std::iter::once(label.to_string()).chain(cells).collect()
}

/// A block's table: seed rows, then summary rows.
fn table(b: &Block) -> Table {
    let mut header = vec!["seed"];
    header.extend(b.columns.iter().map(|c| c.name.as_str()));
    let mut t = Table::first_left(&header);
    for (seed, cells) in &b.rows {
        t.push(row(
            &seed.to_string(),
            cells.iter().map(|c| match c {
                Cell::Value(v) => value(*v),
                Cell::Status(s) => s.clone(),
                Cell::Absent => String::new(),
            }),
        ));
    }
    let opt = |o: Option<f64>, f: fn(f64) -> String| o.map_or(String::new(), f);
    let line =
        |label: &str, f: &dyn Fn(&ColumnSummary) -> String| row(label, b.summary.iter().map(f));
    t.push(line("n", &|s| s.n.to_string()));
    t.push(line("mean", &|s| value(s.mean)));
    t.push(line("std", &|s| sig(s.std)));
    if b.summary.iter().any(|s| s.not_interpretable.is_some()) {
        t.push(line("degenerate", &|s| {
            s.degenerate
                .map_or(String::new(), |d| format!("{d} of {}", s.n))
        }));
    }
    // Without a std reduction, a column other than the reference: its reference has no done runs.
    let reduction =
        b.summary
            .iter()
            .enumerate()
            .map(|(i, s)| match (&s.not_interpretable, s.std_reduction) {
                (Some(_), _) => "not interpretable".to_string(),
                (None, Some(r)) => percent(r),
                (None, None) if i == b.reference => String::new(),
                (None, None) => NA.to_string(),
            });
    t.push(row("std reduction", reduction));
    t.push(line("p Brown–Forsythe", &|s| {
        opt(s.p_brown_forsythe, p_value)
    }));
    t.push(line("p Welch", &|s| opt(s.p_welch, p_value)));
    t
}

/// Each block under its title, then why a column is not interpretable.
fn text(blocks: &[Block], markdown: bool) -> String {
    let block = |b: &Block| {
        let mut out = if markdown {
            format!("### {}\n\n{}", title(b), table(b).markdown())
        } else {
            format!("{}\n{}", title(b), table(b).text())
        };
        for (c, s) in b.columns.iter().zip(&b.summary) {
            if let Some(why) = &s.not_interpretable {
                let gap = if markdown { "\n" } else { "" };
                out.push_str(&format!("{gap}{}: {why}\n", c.name));
            }
        }
        out
    };
    blocks.iter().map(block).collect::<Vec<_>>().join("\n")
}

/// One table for every block: `task,metric,row,<every column>`, empty where a column has no
/// value.
fn csv(blocks: &[Block]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for c in blocks.iter().flat_map(|b| &b.columns) {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    let mut t = Table::left(&[&["task", "metric", "row"], names.as_slice()].concat());
    for b in blocks {
        let mut emit = |label: &str, cells: Vec<String>| {
            let mut line = vec![b.setting.label(), b.metric.label(), label.to_string()];
            let mut values = vec![String::new(); names.len()];
            for (c, v) in b.columns.iter().zip(cells) {
                if let Some(i) = names.iter().position(|n| *n == c.name) {
                    values[i] = v;
                }
            }
            line.extend(values);
            t.push(line);
        };
        for (seed, cells) in &b.rows {
            let values = cells.iter().map(|c| match c {
                Cell::Value(v) => csv_number(*v),
                _ => String::new(),
            });
            emit(&seed.to_string(), values.collect());
        }
        let col = |f: &dyn Fn(&ColumnSummary) -> String| b.summary.iter().map(f).collect();
        let opt = |o: Option<f64>| o.map_or(String::new(), csv_number);
        emit("n", col(&|s| s.n.to_string()));
        emit("mean", col(&|s| csv_number(s.mean)));
        emit("std", col(&|s| csv_number(s.std)));
        emit("std_reduction", col(&|s| opt(s.std_reduction)));
        emit("p_brown_forsythe", col(&|s| opt(s.p_brown_forsythe)));
        emit("p_welch", col(&|s| opt(s.p_welch)));
        emit(
            "degenerate",
            col(&|s| s.degenerate.map_or(String::new(), |d| d.to_string())),
        );
        let interpretable = interpretable(b)
            .into_iter()
            .map(|i| i.map_or(String::new(), |i| i.to_string()));
        emit("interpretable", interpretable.collect());
    }
    t.csv()
}

/// Per column: whether its comparison with the reference is interpretable (`None` for the
/// reference itself).
fn interpretable(b: &Block) -> Vec<Option<bool>> {
    let of = |(i, s): (usize, &ColumnSummary)| {
        (i != b.reference).then_some(s.not_interpretable.is_none())
    };
    b.summary.iter().enumerate().map(of).collect()
}

// The JSON document (module docs); fields in alphabetical order, as it has always printed them.

#[derive(Serialize)]
struct Document<'a> {
    blocks: Vec<BlockJson<'a>>,
    experiments: &'a [String],
}

#[derive(Serialize)]
struct BlockJson<'a> {
    columns: Vec<&'a str>,
    direction: Option<Direction>,
    metric: String,
    name: &'a str,
    reference: &'a str,
    rows: Vec<RowJson<'a>>,
    split: &'a str,
    summary: SummaryJson<'a>,
    sweep: &'a str,
    task: &'a str,
}

#[derive(Serialize)]
struct RowJson<'a> {
    seed: i64,
    /// `done` for a value, the run's status without one, `null` without a run.
    status: Vec<Option<&'a str>>,
    values: Vec<Option<f64>>,
}

/// Per summary row, one entry per column; serde_json writes non-finite numbers as `null`.
#[derive(Serialize)]
struct SummaryJson<'a> {
    degenerate: Vec<Option<usize>>,
    interpretable: Vec<Option<bool>>,
    mean: Vec<f64>,
    n: Vec<usize>,
    not_interpretable: Vec<Option<&'a str>>,
    p_brown_forsythe: Vec<Option<f64>>,
    p_welch: Vec<Option<f64>>,
    std: Vec<f64>,
    std_reduction: Vec<Option<f64>>,
}

impl<'a> BlockJson<'a> {
    fn of(b: &'a Block) -> BlockJson<'a> {
        let s = &b.summary;
        let rows = b.rows.iter().map(|(seed, cells)| RowJson {
            seed: *seed,
            status: cells
                .iter()
                .map(|c| match c {
                    Cell::Value(_) => Some("done"),
                    Cell::Status(s) => Some(s.as_str()),
                    Cell::Absent => None,
                })
                .collect(),
            values: cells
                .iter()
                .map(|c| match c {
                    Cell::Value(v) => Some(*v),
                    _ => None,
                })
                .collect(),
        });
        BlockJson {
            columns: b.columns.iter().map(|c| c.name.as_str()).collect(),
            direction: b.direction,
            metric: b.metric.label(),
            name: &b.metric.name,
            reference: &b.columns[b.reference].name,
            rows: rows.collect(),
            split: &b.metric.split,
            summary: SummaryJson {
                degenerate: s.iter().map(|c| c.degenerate).collect(),
                interpretable: interpretable(b),
                mean: s.iter().map(|c| c.mean).collect(),
                n: s.iter().map(|c| c.n).collect(),
                not_interpretable: s.iter().map(|c| c.not_interpretable.as_deref()).collect(),
                p_brown_forsythe: s.iter().map(|c| c.p_brown_forsythe).collect(),
                p_welch: s.iter().map(|c| c.p_welch).collect(),
                std: s.iter().map(|c| c.std).collect(),
                std_reduction: s.iter().map(|c| c.std_reduction).collect(),
            },
            sweep: &b.setting.sweep,
            task: &b.setting.task,
        }
    }
}
