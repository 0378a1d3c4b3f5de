//! The comparison's blocks, built from the analysis of each experiment: seeds as rows, one
//! column per variant (or per experiment), the summaries and tests as `analysis` computed them.

use super::CompareError;
use crate::analysis::{
    analyse, compare_arms, not_interpretable, Analysis, Arm, Comparison, Direction, ExperimentData,
    MetricAnalysis, MetricKey, Options, Setting,
};
use crate::store::RunRow;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

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

/// One setting and metric: seeds as rows, columns side by side (the first is the reference),
/// then summaries. In JSON, a block of the document (module docs).
#[derive(Debug, Clone)]
pub struct Block {
    pub setting: Setting,
    pub metric: MetricKey,
    pub direction: Option<Direction>,
    /// Column names: variants, or `experiment:variant` across experiments.
    pub columns: Vec<String>,
    /// One row per seed of any run, in seed order.
    pub rows: Vec<Row>,
    pub summary: Summary,
}

/// One seed: per column, the status of its run and its final value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub seed: i64,
    /// `done` for a value, the run's status without one (`diverged`, `queued`, ...), `None`
    /// without a run.
    pub status: Vec<Option<String>>,
    pub values: Vec<Option<f64>>,
}

/// The summary rows, one entry per column; the reference column has no reduction or p-values.
/// Fields in alphabetical order, as JSON has always printed them (non-finite numbers as `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Done runs at or below the majority-class score; `None` without a majority baseline.
    pub degenerate: Vec<Option<usize>>,
    /// Whether the comparison with the reference is interpretable; `None` for the reference.
    pub interpretable: Vec<Option<bool>>,
    pub mean: Vec<f64>,
    pub n: Vec<usize>,
    /// Why the comparison with the reference is not interpretable (either column has not
    /// learned the task); its std reduction is then `None`.
    pub not_interpretable: Vec<Option<String>>,
    pub p_brown_forsythe: Vec<Option<f64>>,
    pub p_welch: Vec<Option<f64>>,
    pub std: Vec<f64>,
    pub std_reduction: Vec<Option<f64>>,
}

impl Block {
    fn new(m: &MetricAnalysis) -> Block {
        Block {
            setting: m.setting.clone(),
            metric: m.metric.clone(),
            direction: m.direction,
            columns: Vec::new(),
            rows: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// Adds the column `name`: the runs of `variant` in `data` (done or not), its statistics in
    /// `m` (the analysis of `data`) and its comparison with the reference column (`None` for
    /// the reference itself, the first column).
    fn push(
        &mut self,
        name: String,
        data: &ExperimentData,
        m: &MetricAnalysis,
        variant: &str,
        vs_reference: Option<&Comparison>,
    ) {
        let runs: Vec<&RunRow> = data
            .runs
            .iter()
            .filter(|r| r.variant == variant && Setting::of(r) == m.setting)
            .collect();
        let before = self.columns.len();
        for r in &runs {
            if let Err(at) = self.rows.binary_search_by_key(&r.seed, |row| row.seed) {
                let (status, values) = (vec![None; before], vec![None; before]);
                self.rows.insert(
                    at,
                    Row {
                        seed: r.seed,
                        status,
                        values,
                    },
                );
            }
        }
        let stats = m.variant(variant);
        for row in &mut self.rows {
            let value = stats.and_then(|s| {
                let i = s.sample.seeds.iter().position(|&seed| seed == row.seed)?;
                Some(s.sample.values[i])
            });
            let status = match value {
                Some(_) => Some("done".to_string()),
                None => runs
                    .iter()
                    .find(|r| r.seed == row.seed)
                    .map(|r| r.status.clone()),
            };
            row.status.push(status);
            row.values.push(value);
        }
        self.columns.push(name);

        let summary = stats.and_then(|s| s.summary.as_ref());
        let why = vs_reference.and_then(|c| not_interpretable(&c.not_learned, m.direction));
        let s = &mut self.summary;
        s.n.push(stats.map_or(0, |s| s.sample.values.len()));
        s.mean.push(summary.map_or(f64::NAN, |s| s.mean));
        s.std.push(summary.map_or(f64::NAN, |s| s.std));
        let interpretable = vs_reference.filter(|c| c.interpretable());
        s.std_reduction.push(interpretable.map(|c| c.std_reduction));
        let bf = vs_reference.and_then(|c| c.brown_forsythe.as_ref());
        s.p_brown_forsythe.push(bf.map(|b| b.p_value));
        let welch = vs_reference.and_then(|c| c.welch.as_ref());
        s.p_welch.push(welch.map(|w| w.p_value));
        s.degenerate
            .push(stats.map_or(m.majority.map(|_| 0), |s| s.degenerate));
        s.interpretable.push((before > 0).then_some(why.is_none()));
        s.not_interpretable.push(why);
    }
}

/// The variants of one experiment side by side, its baseline as the reference.
pub fn single(data: &ExperimentData, selection: &Selection) -> Result<Vec<Block>, CompareError> {
    let a = quick_analysis(data);
    let mut blocks = Vec::new();
    for m in selected(&a, selection)? {
        // The baseline first (the reference), then the other variants with a sample.
        let mut block = Block::new(m);
        for v in &a.variants {
            let stats = m.variant(v);
            if v == &a.baseline || stats.is_some() {
                let vs = stats.and_then(|s| s.vs_baseline.as_ref());
                block.push(v.clone(), data, m, v, vs);
            }
        }
        blocks.push(block);
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
            let (na, nb) = (
                format!("{}:{v}", a.experiment),
                format!("{}:{v}", b.experiment),
            );
            let vs = compare_arms(
                Arm::of(&nb, vb),
                Arm::of(&na, va),
                None,
                &mut HashMap::new(),
            );
            let mut block = Block::new(m);
            block.push(na, first, m, v, None);
            block.push(nb, second, mb, v, Some(&vs));
            blocks.push(block);
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
