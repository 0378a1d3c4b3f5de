//! The comparison laid out: aligned text and Markdown tables, one CSV table, JSON.

use super::{Block, CompareFormat};
use crate::output::{inline::csv_number, Table};
use crate::report::format::{p_value, percent, sig, value, NA};
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// Renders blocks in `format`.
pub fn render(experiments: &[String], blocks: &[Block], format: CompareFormat) -> String {
    match format {
        CompareFormat::Table => text(blocks, false),
        CompareFormat::Md => text(blocks, true),
        CompareFormat::Csv => csv(blocks),
        CompareFormat::Json => {
            #[derive(serde::Serialize)]
            struct Document<'a> {
                blocks: &'a [Block],
                experiments: &'a [String],
            }
            crate::output::json(&Document {
                blocks,
                experiments,
            })
            .unwrap_or_default()
        }
    }
}

/// A block of the JSON document (module docs); fields in alphabetical order, as it has always
/// printed them.
impl Serialize for Block {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Block", 10)?;
        s.serialize_field("columns", &self.columns)?;
        s.serialize_field("direction", &self.direction)?;
        s.serialize_field("metric", &self.metric.label())?;
        s.serialize_field("name", &self.metric.name)?;
        s.serialize_field("reference", &self.columns[0])?;
        s.serialize_field("rows", &self.rows)?;
        s.serialize_field("split", &self.metric.split)?;
        s.serialize_field("summary", &self.summary)?;
        s.serialize_field("sweep", &self.setting.sweep)?;
        s.serialize_field("task", &self.setting.task)?;
        s.end()
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
        b.columns[0]
    )
}

/// A label, then a cell per column.
fn row(label: &str, cells: impl IntoIterator<Item = String>) -> Vec<String> {
    std::iter::once(label.to_string()).chain(cells).collect()
}

/// Each of `values` formatted by `f`, empty for `None`.
fn opt<T: Copy>(values: &[Option<T>], f: impl Fn(T) -> String) -> Vec<String> {
    values.iter().map(|v| v.map_or(String::new(), &f)).collect()
}

/// A block's table: seed rows, then summary rows.
fn table(b: &Block) -> Table {
    let header: Vec<&str> = std::iter::once("seed")
        .chain(b.columns.iter().map(String::as_str))
        .collect();
    let mut t = Table::first_left(&header);
    for r in &b.rows {
        let cells = r.values.iter().zip(&r.status).map(|(v, status)| match v {
            Some(v) => value(*v),
            None => status.clone().unwrap_or_default(),
        });
        t.push(row(&r.seed.to_string(), cells));
    }
    let s = &b.summary;
    t.push(row("n", s.n.iter().map(usize::to_string)));
    t.push(row("mean", s.mean.iter().map(|&x| value(x))));
    t.push(row("std", s.std.iter().map(|&x| sig(x))));
    if s.not_interpretable.iter().any(Option::is_some) {
        let of_n =
            |(d, n): (&Option<usize>, &usize)| d.map_or(String::new(), |d| format!("{d} of {n}"));
        t.push(row("degenerate", s.degenerate.iter().zip(&s.n).map(of_n)));
    }
    let reduction =
        (0..b.columns.len()).map(|i| match (&s.not_interpretable[i], s.std_reduction[i]) {
            (Some(_), _) => "not interpretable".to_string(),
            (None, Some(r)) => percent(r),
            (None, None) if i == 0 => String::new(),
            // Not the reference: the reference has no done runs.
            (None, None) => NA.to_string(),
        });
    t.push(row("std reduction", reduction));
    t.push(row("p Brown–Forsythe", opt(&s.p_brown_forsythe, p_value)));
    t.push(row("p Welch", opt(&s.p_welch, p_value)));
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
        for (c, why) in b.columns.iter().zip(&b.summary.not_interpretable) {
            if let Some(why) = why {
                let gap = if markdown { "\n" } else { "" };
                out.push_str(&format!("{gap}{c}: {why}\n"));
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
        if !names.contains(&c.as_str()) {
            names.push(c);
        }
    }
    let mut t = Table::left(&[&["task", "metric", "row"], names.as_slice()].concat());
    for b in blocks {
        let mut emit = |label: &str, cells: Vec<String>| {
            let mut line = vec![b.setting.label(), b.metric.label(), label.to_string()];
            line.resize(3 + names.len(), String::new());
            for (c, v) in b.columns.iter().zip(cells) {
                if let Some(i) = names.iter().position(|n| n == c) {
                    line[3 + i] = v;
                }
            }
            t.push(line);
        };
        for r in &b.rows {
            emit(&r.seed.to_string(), opt(&r.values, csv_number));
        }
        let s = &b.summary;
        emit("n", s.n.iter().map(usize::to_string).collect());
        emit("mean", s.mean.iter().map(|&x| csv_number(x)).collect());
        emit("std", s.std.iter().map(|&x| csv_number(x)).collect());
        emit("std_reduction", opt(&s.std_reduction, csv_number));
        emit("p_brown_forsythe", opt(&s.p_brown_forsythe, csv_number));
        emit("p_welch", opt(&s.p_welch, csv_number));
        emit("degenerate", opt(&s.degenerate, |d| d.to_string()));
        emit("interpretable", opt(&s.interpretable, |i| i.to_string()));
    }
    t.csv()
}
