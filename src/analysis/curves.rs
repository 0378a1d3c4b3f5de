//! Learning curves from the per-step metrics of the done runs: every evaluation metric at the
//! steps it was measured, and the training loss averaged over bins of steps, each as the mean ±
//! std across seeds per variant, with the step where phase 2 of two-phase training begins.

use super::{primary_metric, Direction, ExperimentData, MetricKey, Setting};
use crate::store::{MetricRow, RunStatus};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// At most this many points of a training-loss curve: longer runs are averaged over bins.
pub const TRAIN_POINTS: i64 = 100;

/// Mean ± std of a per-step metric across the done runs of one variant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub step: i64,
    pub n: usize,
    pub mean: f64,
    /// NaN with a single run at this step.
    pub std: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantCurve {
    pub variant: String,
    pub points: Vec<CurvePoint>,
    /// First optimizer step of phase 2 in this variant's runs (METHODS §4); `None` when its runs
    /// have no phase 1 (or record no phases).
    pub phase2_start: Option<i64>,
}

/// A learning curve: a metric against the optimizer step, per variant.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub setting: Setting,
    pub metric: MetricKey,
    pub direction: Option<Direction>,
    /// Steps averaged into one point: 1 for evaluations; for the training loss, enough that a
    /// curve has at most [`TRAIN_POINTS`] points. A point stands at the last step of its bin
    /// (the last bin may be shorter).
    pub bin: i64,
    pub variants: Vec<VariantCurve>,
}

impl Curve {
    /// The distinct phase-2 starts of the variants, each with the variants that share it.
    pub fn phase_boundaries(&self) -> Vec<(i64, Vec<&str>)> {
        let mut by_step: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        for v in &self.variants {
            if let Some(s) = v.phase2_start {
                by_step.entry(s).or_default().push(&v.variant);
            }
        }
        by_step.into_iter().collect()
    }
}

/// The first phase-2 step of a run that has a phase 1, from its metric rows.
pub fn phase2_start(rows: &[MetricRow]) -> Option<i64> {
    if !rows.iter().any(|m| m.phase == Some(1)) {
        return None;
    }
    rows.iter()
        .filter(|m| m.phase == Some(2))
        .map(|m| m.step)
        .min()
}

fn is_train_loss(m: &MetricRow) -> bool {
    m.split == "train" && m.name == "loss"
}

/// step → values of one (setting, metric, variant).
type Steps = BTreeMap<i64, Vec<f64>>;

/// Every evaluation metric (every split but `train`; counts such as `tokens` left out) and the
/// training loss, per setting.
pub fn learning_curves(
    data: &ExperimentData,
    settings: &[Setting],
    variants: &[String],
) -> Vec<Curve> {
    let done: Vec<(usize, &crate::store::RunRow, &Vec<MetricRow>)> = data
        .runs
        .iter()
        .filter(|r| r.status == RunStatus::Done.as_str())
        .filter_map(|r| {
            let rows = data.curves.get(&r.run_key)?;
            let si = settings.iter().position(|s| *s == Setting::of(r))?;
            Some((si, r, rows))
        })
        .collect();

    // Last training step per setting (its longest run) and the bin that keeps its training-loss
    // curve within TRAIN_POINTS points.
    let mut last_step: HashMap<usize, i64> = HashMap::new();
    for (si, _, rows) in &done {
        let last = rows
            .iter()
            .filter(|m| is_train_loss(m))
            .map(|m| m.step)
            .max()
            .unwrap_or(0);
        let e = last_step.entry(*si).or_insert(0);
        *e = (*e).max(last);
    }
    let bins: HashMap<usize, i64> = last_step
        .iter()
        .map(|(&si, &last)| (si, ((last + TRAIN_POINTS - 1) / TRAIN_POINTS).max(1)))
        .collect();

    let mut acc: BTreeMap<(usize, MetricKey), HashMap<String, Steps>> = BTreeMap::new();
    let mut phase2: HashMap<(usize, &str), i64> = HashMap::new();
    for (si, run, rows) in &done {
        if let Some(s) = phase2_start(rows) {
            let e = phase2.entry((*si, run.variant.as_str())).or_insert(s);
            *e = (*e).min(s);
        }
        let mut push = |key: MetricKey, step: i64, value: f64| {
            acc.entry((*si, key))
                .or_default()
                .entry(run.variant.clone())
                .or_default()
                .entry(step)
                .or_default()
                .push(value);
        };
        let evaluation = |m: &&MetricRow| {
            m.split != "train"
                && m.value.is_finite()
                && super::result_kind(&m.name) == super::ResultKind::Metric
        };
        for m in rows.iter().filter(evaluation) {
            push(MetricKey::new(&m.split, &m.name), m.step, m.value);
        }
        // The run's mean training loss per bin, placed at the bin's last step.
        let bin = bins.get(si).copied().unwrap_or(1);
        let last = last_step.get(si).copied().unwrap_or(i64::MAX);
        let mut binned: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
        for m in rows
            .iter()
            .filter(|m| is_train_loss(m) && m.value.is_finite())
        {
            let end = (((m.step - 1).max(0) / bin + 1) * bin).min(last);
            let e = binned.entry(end).or_insert((0.0, 0));
            e.0 += m.value;
            e.1 += 1;
        }
        for (end, (sum, n)) in binned {
            push(MetricKey::new("train", "loss"), end, sum / n as f64);
        }
    }

    let mut curves: Vec<Curve> = acc
        .into_iter()
        .map(|((si, metric), by_variant)| Curve {
            setting: settings[si].clone(),
            direction: metric.direction(),
            bin: if metric.split == "train" {
                bins.get(&si).copied().unwrap_or(1)
            } else {
                1
            },
            variants: variants
                .iter()
                .filter_map(|v| {
                    by_variant.get(v).map(|steps| VariantCurve {
                        variant: v.clone(),
                        points: steps
                            .iter()
                            .map(|(&step, vals)| CurvePoint {
                                step,
                                n: vals.len(),
                                mean: crate::stats::summary::mean(vals),
                                std: crate::stats::summary::std_dev(vals),
                            })
                            .collect(),
                        phase2_start: phase2.get(&(si, v.as_str())).copied(),
                    })
                })
                .collect(),
            metric,
        })
        .collect();
    // Per setting: the primary metric first, then the other evaluations, the training loss last.
    curves.sort_by_cached_key(|c| {
        (
            settings.iter().position(|s| *s == c.setting),
            c.metric.split == "train",
            primary_metric(&c.setting.task) != Some(c.metric.name.as_str()),
            c.metric.clone(),
        )
    });
    curves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::load;
    use crate::synthetic::SyntheticRun;

    fn row(step: i64, split: &str, name: &str, value: f64, phase: Option<i64>) -> MetricRow {
        MetricRow {
            step,
            split: split.into(),
            name: name.into(),
            value,
            phase,
        }
    }

    /// A 10-step LM run: train loss `offset + step` every step, valid bpc at steps 5 and 10;
    /// phase 1 for steps ≤ `phase1` (none when 0: the whole run is phase 2, like a baseline).
    fn lm_run(variant: &str, seed: u64, offset: f64, phase1: i64) -> SyntheticRun {
        let phase = |s: i64| Some(if s <= phase1 { 1 } else { 2 });
        let mut r = SyntheticRun::done("ptb", variant, seed, &[]);
        r.results = vec![("valid".into(), "ppl".into(), 100.0 + offset)];
        for step in 1..=10 {
            r.curve.push(row(
                step,
                "train",
                "loss",
                offset + step as f64,
                phase(step),
            ));
            if step % 5 == 0 {
                r.curve
                    .push(row(step, "valid", "ppl", 200.0 - step as f64, phase(step)));
            }
        }
        r
    }

    #[test]
    fn phase_boundary_and_train_loss_curves() {
        let runs = vec![
            lm_run("baseline", 1, 0.0, 0),
            lm_run("baseline", 2, 2.0, 0),
            lm_run("two_phase", 1, 0.0, 4),
            lm_run("two_phase", 2, 1.0, 4),
        ];
        let (data, _dir) = load(&runs, true);
        let a = super::super::analyse(&data, &super::super::Options::default());
        let labels: Vec<String> = a.curves.iter().map(|c| c.metric.label()).collect();
        // The primary metric (valid ppl) first, the training loss last.
        assert_eq!(labels, ["valid/ppl", "train/loss"]);
        for c in &a.curves {
            let starts: Vec<_> = c
                .variants
                .iter()
                .map(|v| (v.variant.as_str(), v.phase2_start))
                .collect();
            assert_eq!(starts, [("baseline", None), ("two_phase", Some(5))]);
            assert_eq!(c.phase_boundaries(), [(5, vec!["two_phase"])]);
        }
        let train = &a.curves[1];
        assert_eq!(train.bin, 1); // 10 steps ≤ TRAIN_POINTS
        let two = &train.variants[1].points;
        assert_eq!(two.len(), 10);
        // Step 3: losses 3 and 4 → mean 3.5, std sqrt(0.5).
        assert_eq!((two[2].step, two[2].n, two[2].mean), (3, 2, 3.5));
        assert!((two[2].std - 0.5f64.sqrt()).abs() < 1e-12);
        let valid = &a.curves[0].variants[0].points;
        assert_eq!(valid.iter().map(|p| p.step).collect::<Vec<_>>(), [5, 10]);
    }

    #[test]
    fn long_training_loss_is_averaged_over_bins() {
        // 250 steps → bins of 3 steps (ceil(250 / 100)), the last bin partial.
        let mut r = SyntheticRun::done("ptb", "baseline", 1, &[("ppl", 1.0)]);
        for step in 1..=250 {
            r.curve
                .push(row(step, "train", "loss", step as f64, Some(2)));
        }
        let (data, _dir) = load(&[r], true);
        let a = super::super::analyse(&data, &super::super::Options::default());
        let c = &a.curves[0];
        assert_eq!((c.metric.label(), c.bin), ("train/loss".to_string(), 3));
        let p = &c.variants[0].points;
        assert_eq!(p.len(), 84);
        assert_eq!((p[0].step, p[0].mean), (3, 2.0)); // steps 1, 2, 3
        assert_eq!((p[83].step, p[83].mean), (250, 250.0)); // step 250 alone
        assert!(p.iter().all(|x| x.n == 1 && x.std.is_nan()));
        assert_eq!(c.variants[0].phase2_start, None);
    }
}
