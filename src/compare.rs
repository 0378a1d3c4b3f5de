//! `harness compare`: per-seed final values side by side (seeds as rows, variants as columns),
//! then summary rows (n, mean, std, std reduction against the reference column, Brown–Forsythe
//! and Welch p-values). With two experiments (`A..B` or `A B`) it puts the same variant of both
//! side by side, the first experiment being the reference (e.g. before and after a code change).
//!
//! Without `--metric`, each task shows its primary metric (every metric when the task has no
//! known primary metric or did not record it). Output formats: an aligned text table, Markdown,
//! CSV (one header: `task,metric,row,<every column>`; rows are seeds, then `n`, `mean`, `std`,
//! `std_reduction`, `p_brown_forsythe`, `p_welch`, `degenerate`, `interpretable`; empty cells
//! where a column has no value) and JSON:
//! ```json
//! {"experiments": ["a"], "blocks": [{"task": "rte", "sweep": "", "metric": "acc", "split": "dev",
//!   "direction": "higher", "columns": ["baseline", "cross_head"], "reference": "baseline",
//!   "rows": [{"seed": 1, "values": [0.62, 0.64], "status": ["done", "done"]}],
//!   "summary": {"n": [5, 4], "mean": [..], "std": [..], "std_reduction": [null, 0.72],
//!               "p_brown_forsythe": [null, 0.13], "p_welch": [null, 0.47],
//!               "degenerate": [1, 0], "interpretable": [null, true], "not_interpretable": [null, null]}}]}
//! ```
//! Non-finite numbers are `null` in JSON. `degenerate` counts done runs at or below the
//! majority-class score (`null` without one). A column compared with a reference when either has
//! not learned the task (most runs degenerate; `analysis::learned`) is not interpretable: its
//! `std_reduction` is `null` (empty in CSV, "not interpretable" in the tables, with the counts
//! below the table) and `not_interpretable` says why.

use crate::analysis::{
    analyse, count_degenerate, has_not_learned, not_interpretable, primary_metric, Analysis,
    Direction, ExperimentData, MetricKey, NotLearned, Options, Sample, Setting,
};
use crate::report::format::{p_value, percent, sig, value};
use crate::stats::summary::{mean, std_dev};
use crate::stats::{brown_forsythe, welch_t_test};
use crate::store::Store;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Output format of `harness compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    Table,
    Md,
    Csv,
    Json,
}

/// Arguments of `harness compare` (for the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// One experiment, or two to compare the same variants across them (`A..B` or `A B`)
    #[arg(required = true, num_args = 1..=2, value_name = "EXPERIMENT")]
    pub experiments: Vec<String>,
    /// Results database: a SQLite file path or a postgres://user@host:port/db URL
    #[arg(long, env = crate::store::DB_ENV, default_value = crate::store::DEFAULT_DB)]
    pub db: PathBuf,
    /// Only this task
    #[arg(long)]
    pub task: Option<String>,
    /// Only this metric (`acc`, or `split/name` such as `dev_matched/acc`) [default: each task's primary metric]
    #[arg(long)]
    pub metric: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: CompareFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("`{0}` is not one experiment or two (`A..B` or `A B`)")]
    Experiments(String),
    #[error("nothing to compare in {experiments}: {what}")]
    Empty { experiments: String, what: String },
}

/// A cell of a seed row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Value(f64),
    /// The run exists but has no final value: its status (`diverged`, `queued`, ...).
    Status(String),
    /// No such run.
    Absent,
}

/// One column of a block: a variant of an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub experiment: String,
    pub variant: String,
}

/// Per-column statistics; the reference column has no reduction or p-values.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSummary {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub std_reduction: Option<f64>,
    pub p_brown_forsythe: Option<f64>,
    pub p_welch: Option<f64>,
    /// Done runs at or below the majority-class score; `None` without a majority baseline.
    pub degenerate: Option<usize>,
    /// For a column compared with the reference when either has not learned the task: why the
    /// comparison is not interpretable (its std reduction is then `None`).
    pub not_interpretable: Option<String>,
}

/// One setting and metric: seeds as rows, columns side by side, then summaries.
#[derive(Debug, Clone)]
pub struct Block {
    pub setting: Setting,
    pub metric: MetricKey,
    pub direction: Option<Direction>,
    pub columns: Vec<Column>,
    /// Index of the reference column.
    pub reference: usize,
    pub rows: Vec<(i64, Vec<Cell>)>,
    pub summary: Vec<ColumnSummary>,
}

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct Selection<'a> {
    pub task: Option<&'a str>,
    pub metric: Option<&'a str>,
}

/// Splits `A..B` (or takes two names); one name compares the variants of one experiment.
pub fn parse_experiments(args: &[String]) -> Result<Vec<String>, CompareError> {
    match args {
        [one] => match one.split_once("..") {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains("..") => {
                Ok(vec![a.to_string(), b.to_string()])
            }
            Some(_) => Err(CompareError::Experiments(one.clone())),
            None => Ok(vec![one.clone()]),
        },
        [a, b] => Ok(vec![a.clone(), b.clone()]),
        _ => Err(CompareError::Experiments(args.join(" "))),
    }
}

/// `harness compare`: reads the experiment(s) from `db` and renders the comparison.
pub fn compare_command(
    db: &Path,
    experiments: &[String],
    task: Option<&str>,
    metric: Option<&str>,
    format: CompareFormat,
) -> anyhow::Result<String> {
    let names = parse_experiments(experiments)?;
    if !crate::store::exists(db) {
        anyhow::bail!(
            "no results database at {}; `harness run SPEC` creates it (or pass --db PATH)",
            db.display()
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let data: Vec<ExperimentData> = rt.block_on(async {
        let store = Store::open_read_only(db).await?;
        let mut out = Vec::new();
        for n in &names {
            match ExperimentData::load(&store, n, false).await {
                Ok(d) => out.push(d),
                Err(e) => {
                    store.close().await;
                    return Err(anyhow::Error::from(e));
                }
            }
        }
        store.close().await;
        anyhow::Ok(out)
    })?;
    let selection = Selection { task, metric };
    let blocks = match data.as_slice() {
        [one] => single(one, &selection)?,
        [a, b] => pair(a, b, &selection)?,
        _ => unreachable!("parse_experiments returns one or two names"),
    };
    Ok(render(&names, &blocks, format))
}

fn quick_analysis(data: &ExperimentData) -> Analysis {
    analyse(
        data,
        &Options {
            uncertainty: false,
            ..Options::default()
        },
    )
}

/// Seeds of the runs of `setting` in any of `variants` (done or not).
fn run_seeds(data: &ExperimentData, setting: &Setting, variants: &[&String]) -> Vec<i64> {
    data.runs
        .iter()
        .filter(|r| variants.contains(&&r.variant) && &Setting::of(r) == setting)
        .map(|r| r.seed)
        .collect()
}

/// Status of each run by (setting, variant, seed).
fn statuses(data: &ExperimentData) -> HashMap<(Setting, String, i64), String> {
    data.runs
        .iter()
        .map(|r| {
            (
                (Setting::of(r), r.variant.clone(), r.seed),
                r.status.clone(),
            )
        })
        .collect()
}

/// The metrics of `a` to show for `selection`, in analysis order.
fn selected<'a>(
    a: &'a Analysis,
    selection: &Selection,
) -> Result<Vec<&'a crate::analysis::MetricAnalysis>, CompareError> {
    let in_task: Vec<_> = a
        .metrics
        .iter()
        .filter(|m| selection.task.is_none_or(|t| m.setting.task == t))
        .collect();
    let chosen: Vec<_> = match selection.metric {
        Some(sel) => in_task
            .iter()
            .copied()
            .filter(|m| m.metric.matches(sel))
            .collect(),
        None => in_task
            .iter()
            .copied()
            .filter(|m| {
                let has_primary = primary_metric(&m.setting.task).is_some_and(|p| {
                    in_task
                        .iter()
                        .any(|o| o.setting == m.setting && o.metric.name == p)
                });
                !has_primary || m.primary
            })
            .collect(),
    };
    if chosen.is_empty() {
        let present: Vec<String> = {
            let mut v: Vec<String> = in_task
                .iter()
                .map(|m| format!("{} {}", m.setting, m.metric))
                .collect();
            v.dedup();
            v
        };
        let what = match (selection.task, selection.metric) {
            (Some(t), Some(m)) => format!("no done results for task `{t}`, metric `{m}`"),
            (Some(t), None) => format!("no done results for task `{t}`"),
            (None, Some(m)) => format!("no done results for metric `{m}`"),
            (None, None) => "no done runs with final results yet".to_string(),
        };
        let hint = if present.is_empty() {
            format!(
                " (tasks with results: {})",
                a.metrics
                    .iter()
                    .map(|m| m.setting.task.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!(" (present: {})", present.join(", "))
        };
        return Err(CompareError::Empty {
            experiments: a.experiment.clone(),
            what: format!("{what}{hint}"),
        });
    }
    Ok(chosen)
}

/// Builds one block from samples (the first is the reference).
#[allow(clippy::too_many_arguments)]
fn block(
    setting: &Setting,
    metric: &MetricKey,
    columns: Vec<Column>,
    samples: Vec<Option<&Sample>>,
    majority: Vec<Option<f64>>,
    status: &dyn Fn(usize, i64) -> Option<String>,
    run_seeds: Vec<i64>,
) -> Block {
    // Seeds of runs that are not done appear too, with their status.
    let mut seeds: Vec<i64> = samples
        .iter()
        .flatten()
        .flat_map(|s| s.seeds.clone())
        .collect();
    seeds.extend(run_seeds);
    seeds.sort();
    seeds.dedup();
    let rows = seeds
        .iter()
        .map(|&seed| {
            let cells = samples
                .iter()
                .enumerate()
                .map(|(ci, s)| {
                    let v = s
                        .and_then(|s| s.seeds.iter().position(|&x| x == seed).map(|i| s.values[i]));
                    match v {
                        Some(v) => Cell::Value(v),
                        None => status(ci, seed).map_or(Cell::Absent, Cell::Status),
                    }
                })
                .collect();
            (seed, cells)
        })
        .collect();
    let empty: Vec<f64> = Vec::new();
    let reference = samples[0].map_or(&empty, |s| &s.values);
    let direction = metric.direction();
    let degenerate = |ci: usize, values: &[f64]| {
        majority
            .get(ci)
            .copied()
            .flatten()
            .map(|m| count_degenerate(values, m, direction))
    };
    let arm = |ci: usize, values: &[f64]| -> Option<NotLearned> {
        let d = degenerate(ci, values);
        has_not_learned(d, values.len()).then(|| NotLearned {
            variant: columns[ci].name.clone(),
            degenerate: d.unwrap_or(0),
            n: values.len(),
        })
    };
    let reference_arm = arm(0, reference);
    let summary = samples
        .iter()
        .enumerate()
        .map(|(ci, s)| {
            let values = s.map_or(&empty, |s| &s.values);
            let sd = std_dev(values);
            let is_ref = ci == 0;
            let not_learned: Vec<NotLearned> = if is_ref {
                Vec::new()
            } else {
                reference_arm
                    .iter()
                    .cloned()
                    .chain(arm(ci, values))
                    .collect()
            };
            let not_interpretable = not_interpretable(&not_learned, direction);
            ColumnSummary {
                n: values.len(),
                mean: mean(values),
                std: sd,
                degenerate: degenerate(ci, values),
                std_reduction: (!is_ref && not_interpretable.is_none())
                    .then(|| (std_dev(reference) - sd) / std_dev(reference)),
                not_interpretable,
                p_brown_forsythe: if is_ref {
                    None
                } else {
                    brown_forsythe(&[reference, values]).map(|b| b.p_value)
                },
                p_welch: if is_ref {
                    None
                } else {
                    welch_t_test(values, reference).map(|w| w.p_value)
                },
            }
        })
        .collect();
    Block {
        setting: setting.clone(),
        metric: metric.clone(),
        direction: metric.direction(),
        columns,
        reference: 0,
        rows,
        summary,
    }
}

/// The variants of one experiment side by side, its baseline as the reference.
pub fn single(data: &ExperimentData, selection: &Selection) -> Result<Vec<Block>, CompareError> {
    let a = quick_analysis(data);
    let st = statuses(data);
    let mut blocks = Vec::new();
    for m in selected(&a, selection)? {
        // The baseline first (the reference), then the other variants with a sample.
        let variants: Vec<&String> = a
            .variants
            .iter()
            .filter(|v| *v == &a.baseline || m.variant(v).is_some())
            .collect();
        let columns = variants
            .iter()
            .map(|v| Column {
                name: v.to_string(),
                experiment: a.experiment.clone(),
                variant: v.to_string(),
            })
            .collect();
        let samples = variants
            .iter()
            .map(|v| m.variant(v).map(|s| &s.sample))
            .collect();
        let majority = vec![m.majority; variants.len()];
        let status = |ci: usize, seed: i64| {
            st.get(&(m.setting.clone(), variants[ci].clone(), seed))
                .cloned()
        };
        let seeds = run_seeds(data, &m.setting, &variants);
        blocks.push(block(
            &m.setting, &m.metric, columns, samples, majority, &status, seeds,
        ));
    }
    Ok(blocks)
}

/// The same variant of two experiments side by side, the first experiment as the reference.
pub fn pair(
    first: &ExperimentData,
    second: &ExperimentData,
    selection: &Selection,
) -> Result<Vec<Block>, CompareError> {
    let (a, b) = (quick_analysis(first), quick_analysis(second));
    let (sa, sb) = (statuses(first), statuses(second));
    let mut blocks = Vec::new();
    for m in selected(&a, selection)? {
        let Some(mb) = b.metric(&m.setting, &m.metric) else {
            continue;
        };
        for v in &a.variants {
            let (Some(va), Some(vb)) = (m.variant(v), mb.variant(v)) else {
                continue;
            };
            let columns = vec![
                Column {
                    name: format!("{}:{v}", a.experiment),
                    experiment: a.experiment.clone(),
                    variant: v.clone(),
                },
                Column {
                    name: format!("{}:{v}", b.experiment),
                    experiment: b.experiment.clone(),
                    variant: v.clone(),
                },
            ];
            let status = |ci: usize, seed: i64| {
                let map = if ci == 0 { &sa } else { &sb };
                map.get(&(m.setting.clone(), v.clone(), seed)).cloned()
            };
            blocks.push(block(
                &m.setting,
                &m.metric,
                columns,
                vec![Some(&va.sample), Some(&vb.sample)],
                vec![m.majority, mb.majority],
                &status,
                [
                    run_seeds(first, &m.setting, &[v]),
                    run_seeds(second, &m.setting, &[v]),
                ]
                .concat(),
            ));
        }
    }
    if blocks.is_empty() {
        return Err(CompareError::Empty {
            experiments: format!("{}..{}", a.experiment, b.experiment),
            what: "no task, metric and variant has done runs in both experiments".into(),
        });
    }
    Ok(blocks)
}

/// Renders blocks in `format`.
pub fn render(experiments: &[String], blocks: &[Block], format: CompareFormat) -> String {
    match format {
        CompareFormat::Table => render_text(blocks, false),
        CompareFormat::Md => render_text(blocks, true),
        CompareFormat::Csv => render_csv(blocks),
        CompareFormat::Json => {
            let doc = json!({
                "experiments": experiments,
                "blocks": blocks.iter().map(block_json).collect::<Vec<_>>(),
            });
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
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

/// Formatted rows of a block: header, seed rows, summary rows.
fn text_rows(b: &Block) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["seed".to_string()];
    header.extend(b.columns.iter().map(|c| c.name.clone()));
    let mut rows: Vec<Vec<String>> = b
        .rows
        .iter()
        .map(|(seed, cells)| {
            let mut r = vec![seed.to_string()];
            r.extend(cells.iter().map(|c| match c {
                Cell::Value(v) => value(*v),
                Cell::Status(s) => s.clone(),
                Cell::Absent => String::new(),
            }));
            r
        })
        .collect();
    let opt = |o: Option<f64>, f: fn(f64) -> String| o.map_or(String::new(), f);
    let line = |label: &str, f: &dyn Fn(&ColumnSummary) -> String| {
        let mut r = vec![label.to_string()];
        r.extend(b.summary.iter().map(f));
        r
    };
    rows.push(line("n", &|s| s.n.to_string()));
    rows.push(line("mean", &|s| value(s.mean)));
    rows.push(line("std", &|s| sig(s.std)));
    let uninterpretable = b.summary.iter().any(|s| s.not_interpretable.is_some());
    if uninterpretable {
        rows.push(line("degenerate", &|s| {
            s.degenerate
                .map_or(String::new(), |d| format!("{d} of {}", s.n))
        }));
    }
    rows.push(line("std reduction", &|s| match &s.not_interpretable {
        Some(_) => "not interpretable".to_string(),
        None => opt(s.std_reduction, percent),
    }));
    rows.push(line("p Brown–Forsythe", &|s| {
        opt(s.p_brown_forsythe, p_value)
    }));
    rows.push(line("p Welch", &|s| opt(s.p_welch, p_value)));
    (header, rows)
}

fn render_text(blocks: &[Block], markdown: bool) -> String {
    let mut out = String::new();
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let (header, rows) = text_rows(b);
        if markdown {
            out.push_str(&format!("### {}\n\n", title(b)));
            out.push_str(&format!("| {} |\n", header.join(" | ")));
            out.push_str(&format!("|---|{}\n", "---:|".repeat(header.len() - 1)));
            for r in &rows {
                out.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        } else {
            out.push_str(&title(b));
            out.push('\n');
            let h: Vec<&str> = header.iter().map(String::as_str).collect();
            out.push_str(&aligned(&h, &rows));
        }
        for (c, s) in b.columns.iter().zip(&b.summary) {
            if let Some(text) = &s.not_interpretable {
                out.push_str(&format!(
                    "{}{}: {text}\n",
                    if markdown { "\n" } else { "" },
                    c.name
                ));
            }
        }
    }
    out
}

/// Columns aligned: the first left, the others right.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&header.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn render_csv(blocks: &[Block]) -> String {
    let mut names: Vec<String> = Vec::new();
    for b in blocks {
        for c in &b.columns {
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        }
    }
    let mut out = String::from("task,metric,row");
    for n in &names {
        out.push(',');
        out.push_str(&csv_field(n));
    }
    out.push('\n');
    for b in blocks {
        let mut emit = |row: &str, cells: Vec<(usize, String)>| {
            let mut line = vec![
                csv_field(&b.setting.label()),
                csv_field(&b.metric.label()),
                row.to_string(),
            ];
            let mut values = vec![String::new(); names.len()];
            for (ci, v) in cells {
                let pos = names
                    .iter()
                    .position(|n| n == &b.columns[ci].name)
                    .unwrap_or(0);
                values[pos] = v;
            }
            line.extend(values);
            out.push_str(&line.join(","));
            out.push('\n');
        };
        for (seed, cells) in &b.rows {
            let vals = cells
                .iter()
                .enumerate()
                .map(|(ci, c)| {
                    (
                        ci,
                        if let Cell::Value(v) = c {
                            num(*v)
                        } else {
                            String::new()
                        },
                    )
                })
                .collect();
            emit(&seed.to_string(), vals);
        }
        let col = |f: &dyn Fn(&ColumnSummary) -> String| {
            b.summary
                .iter()
                .enumerate()
                .map(|(ci, s)| (ci, f(s)))
                .collect::<Vec<_>>()
        };
        let opt = |o: Option<f64>| o.map_or(String::new(), num);
        emit("n", col(&|s| s.n.to_string()));
        emit("mean", col(&|s| num(s.mean)));
        emit("std", col(&|s| num(s.std)));
        emit("std_reduction", col(&|s| opt(s.std_reduction)));
        emit("p_brown_forsythe", col(&|s| opt(s.p_brown_forsythe)));
        emit("p_welch", col(&|s| opt(s.p_welch)));
        emit(
            "degenerate",
            col(&|s| s.degenerate.map_or(String::new(), |d| d.to_string())),
        );
        let interpretable = b
            .summary
            .iter()
            .enumerate()
            .map(|(ci, s)| {
                let cell = if ci == b.reference {
                    String::new()
                } else {
                    s.not_interpretable.is_none().to_string()
                };
                (ci, cell)
            })
            .collect();
        emit("interpretable", interpretable);
    }
    out
}

fn jnum(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn jopt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, jnum)
}

fn block_json(b: &Block) -> Value {
    let rows: Vec<Value> = b
        .rows
        .iter()
        .map(|(seed, cells)| {
            json!({
                "seed": seed,
                "values": cells.iter().map(|c| match c { Cell::Value(v) => jnum(*v), _ => Value::Null }).collect::<Vec<_>>(),
                "status": cells.iter().map(|c| match c {
                    Cell::Value(_) => Value::from("done"),
                    Cell::Status(s) => Value::from(s.as_str()),
                    Cell::Absent => Value::Null,
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let s = &b.summary;
    json!({
        "task": b.setting.task,
        "sweep": b.setting.sweep,
        "metric": b.metric.label(),
        "split": b.metric.split,
        "name": b.metric.name,
        "direction": b.direction,
        "columns": b.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "reference": b.columns[b.reference].name,
        "rows": rows,
        "summary": {
            "n": s.iter().map(|c| c.n).collect::<Vec<_>>(),
            "mean": s.iter().map(|c| jnum(c.mean)).collect::<Vec<_>>(),
            "std": s.iter().map(|c| jnum(c.std)).collect::<Vec<_>>(),
            "std_reduction": s.iter().map(|c| jopt(c.std_reduction)).collect::<Vec<_>>(),
            "p_brown_forsythe": s.iter().map(|c| jopt(c.p_brown_forsythe)).collect::<Vec<_>>(),
            "p_welch": s.iter().map(|c| jopt(c.p_welch)).collect::<Vec<_>>(),
            "degenerate": s.iter().map(|c| c.degenerate).collect::<Vec<_>>(),
            "interpretable": s.iter().enumerate().map(|(i, c)| {
                if i == b.reference { Value::Null } else { Value::from(c.not_interpretable.is_none()) }
            }).collect::<Vec<_>>(),
            "not_interpretable": s.iter().map(|c| c.not_interpretable.clone()).collect::<Vec<_>>(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::small_runs;
    use crate::synthetic::{write_experiment, SyntheticRun};

    /// The small experiment (see `analysis::tests::small_runs`) as `small`, and `after`: the same
    /// grid rerun with other baseline values (seed 3 missing) and the same cross_head values.
    fn db() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Store::open(&path).await.unwrap();
            write_experiment(&store, "small", "baseline", None, &small_runs())
                .await
                .unwrap();
            let mut after = Vec::new();
            for (seed, v) in [(1, 0.60), (2, 0.64), (4, 0.62), (5, 0.61)] {
                after.push(SyntheticRun::done("rte", "baseline", seed, &[("acc", v)]));
            }
            after.push(
                SyntheticRun::done("rte", "baseline", 3, &[])
                    .with_status(crate::store::RunStatus::Queued, None),
            );
            write_experiment(&store, "after", "baseline", None, &after)
                .await
                .unwrap();
            store.close().await;
        });
        (dir, path)
    }

    fn run(
        path: &Path,
        exps: &[&str],
        task: Option<&str>,
        metric: Option<&str>,
        f: CompareFormat,
    ) -> String {
        let exps: Vec<String> = exps.iter().map(|s| s.to_string()).collect();
        compare_command(path, &exps, task, metric, f).unwrap()
    }

    // Numbers checked against scipy 1.17.1 (BASE = baseline acc, CROSS = cross_head acc):
    // np.std(BASE, ddof=1) = 0.07694153624668537, np.std(CROSS, ddof=1) = 0.021602468994692887,
    // 1 − σ_c/σ_b = 0.7192352785180642, levene(BASE, CROSS, center='median').pvalue =
    // 0.1305988180502319, ttest_ind(CROSS, BASE, equal_var=False).pvalue = 0.47427339600605667.
    const TABLE: &str = "\
rte acc (higher is better), reference: baseline
seed              baseline  cross_head
1                   0.6200      0.6400
2                   0.7000      0.6600
3                   0.5000      0.6100
4                   0.6600      0.6500
5                   0.5800    diverged
n                        5           4
mean                0.6120      0.6400
std                0.07694     0.02160
std reduction                   +71.9%
p Brown–Forsythe                 0.131
p Welch                          0.474
";

    #[test]
    fn one_experiment_as_table_and_markdown() {
        let (_d, path) = db();
        assert_eq!(
            run(&path, &["small"], None, None, CompareFormat::Table),
            TABLE
        );
        // The same with the task and metric named (`rte`'s primary metric is acc).
        assert_eq!(
            run(
                &path,
                &["small"],
                Some("rte"),
                Some("dev/acc"),
                CompareFormat::Table
            ),
            TABLE
        );
        let md = run(&path, &["small"], None, None, CompareFormat::Md);
        assert_eq!(
            md,
            "### rte acc (higher is better), reference: baseline\n\n\
             | seed | baseline | cross_head |\n|---|---:|---:|\n\
             | 1 | 0.6200 | 0.6400 |\n| 2 | 0.7000 | 0.6600 |\n| 3 | 0.5000 | 0.6100 |\n\
             | 4 | 0.6600 | 0.6500 |\n| 5 | 0.5800 | diverged |\n| n | 5 | 4 |\n\
             | mean | 0.6120 | 0.6400 |\n| std | 0.07694 | 0.02160 |\n\
             | std reduction |  | +71.9% |\n| p Brown–Forsythe |  | 0.131 |\n| p Welch |  | 0.474 |\n"
        );
    }

    #[test]
    fn one_experiment_as_csv() {
        let (_d, path) = db();
        assert_eq!(
            run(&path, &["small"], None, None, CompareFormat::Csv),
            "task,metric,row,baseline,cross_head\n\
             rte,acc,1,0.62,0.64\nrte,acc,2,0.7,0.66\nrte,acc,3,0.5,0.61\nrte,acc,4,0.66,0.65\n\
             rte,acc,5,0.58,\nrte,acc,n,5,4\nrte,acc,mean,0.612,0.64\n\
             rte,acc,std,0.07694153624668537,0.021602468994692887\n\
             rte,acc,std_reduction,,0.7192352785180642\n\
             rte,acc,p_brown_forsythe,,0.13059881805023196\n\
             rte,acc,p_welch,,0.47427339600605745\n\
             rte,acc,degenerate,1,0\nrte,acc,interpretable,,true\n"
        );
        // Every metric of the task when asked for a bare name present on one split only.
        let loss = run(&path, &["small"], None, Some("loss"), CompareFormat::Csv);
        assert!(
            loss.starts_with("task,metric,row,baseline,cross_head\nrte,loss,1,0.38,0.36"),
            "{loss}"
        );
    }

    #[test]
    fn one_experiment_as_json() {
        let (_d, path) = db();
        let doc: Value =
            serde_json::from_str(&run(&path, &["small"], None, None, CompareFormat::Json)).unwrap();
        assert_eq!(doc["experiments"], json!(["small"]));
        let b = &doc["blocks"][0];
        assert_eq!(doc["blocks"].as_array().unwrap().len(), 1);
        assert_eq!(
            (
                b["task"].as_str(),
                b["metric"].as_str(),
                b["direction"].as_str(),
                b["reference"].as_str()
            ),
            (Some("rte"), Some("acc"), Some("higher"), Some("baseline"))
        );
        assert_eq!(b["columns"], json!(["baseline", "cross_head"]));
        assert_eq!(
            b["rows"][4],
            json!({"seed": 5, "values": [0.58, null], "status": ["done", "diverged"]})
        );
        assert_eq!(
            b["rows"][0],
            json!({"seed": 1, "values": [0.62, 0.64], "status": ["done", "done"]})
        );
        let s = &b["summary"];
        assert_eq!(s["n"], json!([5, 4]));
        assert_eq!(s["std_reduction"][0], Value::Null);
        let close =
            |v: &Value, x: f64| assert!((v.as_f64().unwrap() - x).abs() < 1e-12, "{v} vs {x}");
        close(&s["std"][0], 0.07694153624668537);
        close(&s["std"][1], 0.021602468994692887);
        close(&s["std_reduction"][1], 0.7192352785180642);
        close(&s["p_brown_forsythe"][1], 0.1305988180502319);
        close(&s["p_welch"][1], 0.47427339600605667);
    }

    /// The same variant across two experiments. scipy 1.17.1 with AFTER = [0.60, 0.64, 0.62, 0.61]:
    /// np.std(AFTER, ddof=1) = 0.017078251276599347, 1 − σ_after/σ_base = 0.7780359983735693,
    /// levene(BASE, AFTER, center='median').pvalue = 0.1066754522354368,
    /// ttest_ind(AFTER, BASE, equal_var=False).pvalue = 0.8834507555559178.
    #[test]
    fn two_experiments() {
        let (_d, path) = db();
        let expected = "\
rte acc (higher is better), reference: small:baseline
seed              small:baseline  after:baseline
1                         0.6200          0.6000
2                         0.7000          0.6400
3                         0.5000          queued
4                         0.6600          0.6200
5                         0.5800          0.6100
n                              5               4
mean                      0.6120          0.6175
std                      0.07694         0.01708
std reduction                             +77.8%
p Brown–Forsythe                           0.107
p Welch                                    0.883
";
        assert_eq!(
            run(&path, &["small..after"], None, None, CompareFormat::Table),
            expected
        );
        assert_eq!(
            run(&path, &["small", "after"], None, None, CompareFormat::Table),
            expected
        );
        assert_eq!(
            run(
                &path,
                &["small", "after"],
                Some("rte"),
                Some("acc"),
                CompareFormat::Csv
            ),
            "task,metric,row,small:baseline,after:baseline\n\
             rte,acc,1,0.62,0.6\nrte,acc,2,0.7,0.64\nrte,acc,3,0.5,\nrte,acc,4,0.66,0.62\n\
             rte,acc,5,0.58,0.61\nrte,acc,n,5,4\nrte,acc,mean,0.612,0.6174999999999999\n\
             rte,acc,std,0.07694153624668537,0.017078251276599347\n\
             rte,acc,std_reduction,,0.7780359983735694\n\
             rte,acc,p_brown_forsythe,,0.10667545223543677\n\
             rte,acc,p_welch,,0.883450755555917\n\
             rte,acc,degenerate,1,\nrte,acc,interpretable,,true\n"
        );
    }

    /// rte where the baseline has not learned: 4 of 5 runs at or below the majority class
    /// (0.527); cross_head learned. No std reduction is given; the counts say why.
    #[test]
    fn a_task_not_learned_is_not_interpretable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Store::open(&path).await.unwrap();
            let mut runs = Vec::new();
            for (seed, (b, c)) in [
                (0.527, 0.66),
                (0.47, 0.64),
                (0.527, 0.70),
                (0.68, 0.61),
                (0.50, 0.65),
            ]
            .into_iter()
            .enumerate()
            {
                let mut r = SyntheticRun::done("rte", "baseline", seed as u64 + 1, &[("acc", b)]);
                r.results.push(("dev".into(), "majority_acc".into(), 0.527));
                runs.push(r);
                runs.push(SyntheticRun::done(
                    "rte",
                    "cross_head",
                    seed as u64 + 1,
                    &[("acc", c)],
                ));
            }
            write_experiment(&store, "collapsed", "baseline", None, &runs)
                .await
                .unwrap();
            store.close().await;
        });
        let table = run(&path, &["collapsed"], None, None, CompareFormat::Table);
        let words = |prefix: &str| -> Vec<String> {
            table
                .lines()
                .find(|l| l.starts_with(prefix))
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            words("degenerate"),
            ["degenerate", "4", "of", "5", "0", "of", "5"]
        );
        assert_eq!(
            words("std reduction"),
            ["std", "reduction", "not", "interpretable"]
        );
        assert!(table.ends_with("cross_head: not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class)\n"), "{table}");
        let csv = run(&path, &["collapsed"], None, None, CompareFormat::Csv);
        assert!(csv.contains("rte,acc,std_reduction,,\n"), "{csv}");
        assert!(
            csv.contains("rte,acc,degenerate,4,0\nrte,acc,interpretable,,false\n"),
            "{csv}"
        );
        let doc: Value =
            serde_json::from_str(&run(&path, &["collapsed"], None, None, CompareFormat::Json))
                .unwrap();
        let s = &doc["blocks"][0]["summary"];
        assert_eq!(s["std_reduction"], json!([null, null]));
        assert_eq!(s["degenerate"], json!([4, 0]));
        assert_eq!(s["interpretable"], json!([null, false]));
        assert_eq!(
            s["not_interpretable"][1],
            json!("not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class)")
        );
        // Unchanged fields stay.
        assert_eq!(s["n"], json!([5, 5]));
        assert!(s["p_brown_forsythe"][1].is_number());
    }

    #[test]
    fn arguments_and_errors() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_experiments(&s(&["a..b"])).unwrap(), ["a", "b"]);
        assert_eq!(parse_experiments(&s(&["a"])).unwrap(), ["a"]);
        assert_eq!(parse_experiments(&s(&["a", "b"])).unwrap(), ["a", "b"]);
        assert!(parse_experiments(&s(&["a.."])).is_err());
        assert!(parse_experiments(&s(&["a..b..c"])).is_err());
        let (_d, path) = db();
        let err = compare_command(
            &path,
            &s(&["small"]),
            None,
            Some("f1"),
            CompareFormat::Table,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "nothing to compare in small: no done results for metric `f1` (present: rte acc, rte loss)");
        let err = compare_command(&path, &s(&["nope"]), None, None, CompareFormat::Table)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no experiment named `nope`"), "{err}");
        let err = compare_command(
            &path.with_file_name("missing.db"),
            &s(&["small"]),
            None,
            None,
            CompareFormat::Table,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("no results database at "), "{err}");
    }
}
