//! The comparison's blocks, built from the analysis of each experiment: seeds as rows, one
//! column per variant (or per experiment), the summaries and tests as `analysis` computed them.

use super::CompareError;
use crate::analysis::{
    analyse, compare_arms, not_interpretable, Analysis, Arm, Comparison, Direction, ExperimentData,
    MetricAnalysis, MetricKey, Options, Sample, Setting, VariantStats,
};
use std::collections::{BTreeSet, HashMap};

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

fn quick_analysis(data: &ExperimentData) -> Analysis {
    analyse(
        data,
        &Options {
            uncertainty: false,
            ..Options::default()
        },
    )
}

/// The metrics of `a` to show for `selection`, in analysis order: without a metric named, each
/// setting's primary metric, or all of its metrics when it has not recorded its primary one.
fn selected<'a>(
    a: &'a Analysis,
    selection: &Selection,
) -> Result<Vec<&'a MetricAnalysis>, CompareError> {
    let in_task: Vec<_> = a
        .metrics
        .iter()
        .filter(|m| selection.task.is_none_or(|t| m.setting.task == t))
        .collect();
    let has_primary =
        |m: &MetricAnalysis| in_task.iter().any(|o| o.setting == m.setting && o.primary);
    let chosen: Vec<_> = in_task
        .iter()
        .copied()
        .filter(|m| match selection.metric {
            Some(sel) => m.metric.matches(sel),
            None => m.primary || !has_primary(m),
        })
        .collect();
    if chosen.is_empty() {
        return Err(nothing_selected(a, selection, &in_task));
    }
    Ok(chosen)
}

/// What `selection` asked for, then what `a` has: the metrics of the task asked for, or the tasks.
fn nothing_selected(
    a: &Analysis,
    selection: &Selection,
    in_task: &[&MetricAnalysis],
) -> CompareError {
    let what = match (selection.task, selection.metric) {
        (Some(t), Some(m)) => format!("no done results for task `{t}`, metric `{m}`"),
        (Some(t), None) => format!("no done results for task `{t}`"),
        (None, Some(m)) => format!("no done results for metric `{m}`"),
        (None, None) => "no done runs with final results yet".to_string(),
    };
    let hint = if in_task.is_empty() {
        let tasks: BTreeSet<&str> = a.metrics.iter().map(|m| m.setting.task.as_str()).collect();
        let tasks: Vec<&str> = tasks.into_iter().collect();
        format!("tasks with results: {}", tasks.join(", "))
    } else {
        let mut present: Vec<String> = in_task
            .iter()
            .map(|m| format!("{} {}", m.setting, m.metric))
            .collect();
        present.dedup();
        format!("present: {}", present.join(", "))
    };
    CompareError::Empty {
        experiments: a.experiment.clone(),
        what: format!("{what} ({hint})"),
    }
}

impl ColumnSummary {
    /// A column's statistics as the analysis computed them: its variant's (`None` when it has
    /// no done runs) and its comparison with the reference column (`None` for the reference).
    fn of(
        stats: Option<&VariantStats>,
        vs_reference: Option<&Comparison>,
        majority: Option<f64>,
        direction: Option<Direction>,
    ) -> ColumnSummary {
        let summary = stats.and_then(|s| s.summary.as_ref());
        ColumnSummary {
            n: stats.map_or(0, |s| s.sample.values.len()),
            mean: summary.map_or(f64::NAN, |s| s.mean),
            std: summary.map_or(f64::NAN, |s| s.std),
            std_reduction: vs_reference
                .filter(|c| c.interpretable())
                .map(|c| c.std_reduction),
            p_brown_forsythe: vs_reference
                .and_then(|c| c.brown_forsythe.as_ref())
                .map(|b| b.p_value),
            p_welch: vs_reference
                .and_then(|c| c.welch.as_ref())
                .map(|w| w.p_value),
            degenerate: stats.map_or(majority.map(|_| 0), |s| s.degenerate),
            not_interpretable: vs_reference
                .and_then(|c| not_interpretable(&c.not_learned, direction)),
        }
    }
}

/// One column on its way into a block: its sample, the (seed, status) of each of its runs (done
/// or not) and its statistics.
struct Source<'a> {
    column: Column,
    sample: Option<&'a Sample>,
    runs: Vec<(i64, &'a str)>,
    summary: ColumnSummary,
}

fn runs_of<'a>(data: &'a ExperimentData, setting: &Setting, variant: &str) -> Vec<(i64, &'a str)> {
    data.runs
        .iter()
        .filter(|r| r.variant == variant && &Setting::of(r) == setting)
        .map(|r| (r.seed, r.status.as_str()))
        .collect()
}

/// Lays the columns (the first is the reference) side by side: one row per seed of any run.
fn block(m: &MetricAnalysis, sources: Vec<Source>) -> Block {
    let mut seeds: Vec<i64> = sources
        .iter()
        .flat_map(|s| s.sample.into_iter().flat_map(|x| x.seeds.iter().copied()))
        .chain(sources.iter().flat_map(|s| s.runs.iter().map(|r| r.0)))
        .collect();
    seeds.sort();
    seeds.dedup();
    let cell = |s: &Source, seed: i64| {
        let value = s
            .sample
            .and_then(|x| x.seeds.iter().position(|&y| y == seed).map(|i| x.values[i]));
        match (value, s.runs.iter().find(|r| r.0 == seed)) {
            (Some(v), _) => Cell::Value(v),
            (None, Some((_, status))) => Cell::Status(status.to_string()),
            (None, None) => Cell::Absent,
        }
    };
    let rows = seeds
        .iter()
        .map(|&seed| (seed, sources.iter().map(|s| cell(s, seed)).collect()))
        .collect();
    let (columns, summary) = sources.into_iter().map(|s| (s.column, s.summary)).unzip();
    Block {
        setting: m.setting.clone(),
        metric: m.metric.clone(),
        direction: m.direction,
        columns,
        reference: 0,
        rows,
        summary,
    }
}

/// The variants of one experiment side by side, its baseline as the reference.
pub fn single(data: &ExperimentData, selection: &Selection) -> Result<Vec<Block>, CompareError> {
    let a = quick_analysis(data);
    let mut blocks = Vec::new();
    for m in selected(&a, selection)? {
        // The baseline first (the reference), then the other variants with a sample.
        let sources = a
            .variants
            .iter()
            .filter(|v| *v == &a.baseline || m.variant(v).is_some())
            .map(|v| {
                let stats = m.variant(v);
                let vs = stats.and_then(|s| s.vs_baseline.as_ref());
                Source {
                    column: Column {
                        name: v.clone(),
                        experiment: a.experiment.clone(),
                        variant: v.clone(),
                    },
                    sample: stats.map(|s| &s.sample),
                    runs: runs_of(data, &m.setting, v),
                    summary: ColumnSummary::of(stats, vs, m.majority, m.direction),
                }
            })
            .collect();
        blocks.push(block(m, sources));
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
    let mut blocks = Vec::new();
    for m in selected(&a, selection)? {
        let Some(mb) = b.metric(&m.setting, &m.metric) else {
            continue;
        };
        for v in &a.variants {
            let (Some(va), Some(vb)) = (m.variant(v), mb.variant(v)) else {
                continue;
            };
            let column = |experiment: &str| Column {
                name: format!("{experiment}:{v}"),
                experiment: experiment.to_string(),
                variant: v.clone(),
            };
            let (ca, cb) = (column(&a.experiment), column(&b.experiment));
            let vs = compare_arms(
                Arm::of(&cb.name, vb),
                Arm::of(&ca.name, va),
                None,
                &mut HashMap::new(),
            );
            let sources = vec![
                Source {
                    summary: ColumnSummary::of(Some(va), None, m.majority, m.direction),
                    column: ca,
                    sample: Some(&va.sample),
                    runs: runs_of(first, &m.setting, v),
                },
                Source {
                    summary: ColumnSummary::of(Some(vb), Some(&vs), mb.majority, m.direction),
                    column: cb,
                    sample: Some(&vb.sample),
                    runs: runs_of(second, &m.setting, v),
                },
            ];
            blocks.push(block(m, sources));
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
