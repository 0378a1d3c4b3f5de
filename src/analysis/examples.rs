//! Example-level statistics from the stored per-example predictions: per setting, evaluation
//! split and metric, each variant against the baseline by the multi-bootstrap
//! (`stats::multibootstrap`: seeds only, and seeds and examples jointly) and, for accuracy,
//! McNemar's test of the two variants' runs of the same seed (`stats::mcnemar`).
//!
//! Scores are recomputed from the predictions with the task's official metrics
//! (`data::metrics`), so they equal the stored final results. Runs are grouped by setting
//! (task and sweep point) and split; only done runs count; a group whose runs do not share one
//! evaluation set (other gold labels) is reported as not comparable.

use super::{MetricKey, Setting};
use crate::data::metrics;
use crate::data::TaskKind;
use crate::stats::{mcnemar, multibootstrap, Bootstrap, McNemar, MultiBootstrap};
use crate::store::{ExampleValues, RunRow, RunStatus, StoredPredictions};
use serde::Serialize;
use std::collections::BTreeMap;

/// Replicates of the multi-bootstrap in reports (each recomputes the metric of every seed).
pub const REPLICATES: usize = 2_000;

/// McNemar's test of one seed: the variant's run against the baseline's run of that seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeedMcNemar {
    pub seed: i64,
    /// `a_only`: examples the variant got right and the baseline wrong; `b_only` the reverse.
    pub test: McNemar,
}

/// The per-seed McNemar tests of a variant against the baseline, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McNemarSummary {
    pub per_seed: Vec<SeedMcNemar>,
    /// Seeds where the variant is significantly better (p < `alpha`), worse, or neither.
    pub variant_better: usize,
    pub baseline_better: usize,
    pub not_significant: usize,
    pub alpha: f64,
    /// Discordant examples summed over the seeds.
    pub variant_only_right: u64,
    pub baseline_only_right: u64,
}

/// One variant against the baseline on one setting, split and metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleComparison {
    pub setting: Setting,
    pub metric: MetricKey,
    pub variant: String,
    pub baseline: String,
    pub examples: usize,
    pub baseline_seeds: usize,
    pub variant_seeds: usize,
    /// `Err` says why it could not be computed (too few seeds, other evaluation sets).
    pub multibootstrap: Result<MultiBootstrap, String>,
    /// Accuracy only: McNemar per seed present in both arms.
    pub mcnemar: Option<McNemarSummary>,
}

/// Significance level of the per-seed McNemar counts.
pub const MCNEMAR_ALPHA: f64 = 0.05;

/// The arrays of one group, converted once for the metric functions.
enum Arrays {
    Classes {
        gold: Vec<usize>,
        seeds: Vec<(i64, Vec<usize>)>,
    },
    Scores {
        gold: Vec<f64>,
        seeds: Vec<(i64, Vec<f64>)>,
    },
}

/// One group's gold values (the first run's) and every run's predictions.
type Group<T> = Option<(Vec<T>, Vec<(i64, Vec<T>)>)>;

/// Adds run `p`'s predictions to `group`, after checking that the run was evaluated on the
/// examples of the runs before it (the same `gold`, whose kind `what` names).
fn add<T: PartialEq>(
    group: &mut Group<T>,
    p: &StoredPredictions,
    gold: Vec<T>,
    predicted: Vec<T>,
    what: &str,
) -> Result<(), String> {
    match group {
        None => *group = Some((gold, vec![(p.seed, predicted)])),
        Some((g0, _)) if *g0 != gold => {
            return Err(format!(
                "run {} was evaluated on other examples (other {what}) than the runs before it",
                p.run_key
            ))
        }
        Some((_, seeds)) => seeds.push((p.seed, predicted)),
    }
    Ok(())
}

fn arrays(preds: &[&StoredPredictions]) -> Result<Arrays, String> {
    let (mut classes, mut scores): (Group<usize>, Group<f64>) = (None, None);
    for p in preds {
        let mixed = match &p.values {
            ExampleValues::Classes { predicted, gold } => {
                let cast = |v: &[u32]| v.iter().map(|&c| c as usize).collect();
                add(&mut classes, p, cast(gold), cast(predicted), "gold labels")?;
                scores.is_some()
            }
            ExampleValues::Scores { predicted, gold } => {
                let cast = |v: &[f32]| v.iter().map(|&s| s as f64).collect();
                add(&mut scores, p, cast(gold), cast(predicted), "gold scores")?;
                classes.is_some()
            }
        };
        if mixed {
            return Err(format!(
                "run {} stored class predictions where others stored scores, or the reverse",
                p.run_key
            ));
        }
    }
    match (classes, scores) {
        (Some((gold, seeds)), _) => Ok(Arrays::Classes { gold, seeds }),
        (_, Some((gold, seeds))) => Ok(Arrays::Scores { gold, seeds }),
        (None, None) => Err("no predictions".to_string()),
    }
}

type ClassMetric = fn(&[usize], &[usize]) -> f64;
type ScoreMetric = fn(&[f64], &[f64]) -> f64;

fn class_metric(name: &str) -> Option<ClassMetric> {
    match name {
        "acc" => Some(metrics::accuracy),
        "f1" => Some(metrics::f1_positive),
        "mcc" => Some(metrics::matthews),
        _ => None,
    }
}

fn score_metric(name: &str) -> Option<ScoreMetric> {
    match name {
        "pearson" => Some(metrics::pearson),
        "spearman" => Some(metrics::spearman),
        _ => None,
    }
}

fn split_by_variant<T: Clone>(
    seeds: &[(i64, Vec<T>)],
    variants: &[String],
    variant: &str,
) -> Vec<(i64, Vec<T>)> {
    seeds
        .iter()
        .zip(variants)
        .filter(|(_, v)| v.as_str() == variant)
        .map(|(s, _)| s.clone())
        .collect()
}

fn run_multibootstrap<T: Copy>(
    gold: &[T],
    base: &[(i64, Vec<T>)],
    var: &[(i64, Vec<T>)],
    metric: fn(&[T], &[T]) -> f64,
    settings: &Bootstrap,
) -> Result<MultiBootstrap, String> {
    let b: Vec<&[T]> = base.iter().map(|(_, p)| p.as_slice()).collect();
    let v: Vec<&[T]> = var.iter().map(|(_, p)| p.as_slice()).collect();
    multibootstrap(gold, &b, &v, metric, settings).map_err(|e| e.to_string())
}

fn mcnemar_summary(
    gold: &[usize],
    base: &[(i64, Vec<usize>)],
    var: &[(i64, Vec<usize>)],
) -> Option<McNemarSummary> {
    let correct = |p: &[usize]| -> Vec<bool> { p.iter().zip(gold).map(|(a, b)| a == b).collect() };
    let mut per_seed = Vec::new();
    for (seed, vp) in var {
        let Some((_, bp)) = base.iter().find(|(s, _)| s == seed) else {
            continue;
        };
        if let Some(test) = mcnemar(&correct(vp), &correct(bp)) {
            per_seed.push(SeedMcNemar { seed: *seed, test });
        }
    }
    if per_seed.is_empty() {
        return None;
    }
    let significant = |t: &McNemar| t.p_value < MCNEMAR_ALPHA;
    Some(McNemarSummary {
        variant_better: per_seed
            .iter()
            .filter(|s| significant(&s.test) && s.test.a_only > s.test.b_only)
            .count(),
        baseline_better: per_seed
            .iter()
            .filter(|s| significant(&s.test) && s.test.b_only > s.test.a_only)
            .count(),
        not_significant: per_seed.iter().filter(|s| !significant(&s.test)).count(),
        alpha: MCNEMAR_ALPHA,
        variant_only_right: per_seed.iter().map(|s| s.test.a_only).sum(),
        baseline_only_right: per_seed.iter().map(|s| s.test.b_only).sum(),
        per_seed,
    })
}

/// The example-level comparisons of every variant with the baseline, in setting, split,
/// metric (the task's metrics in their official order) and variant order. `runs` are the
/// experiment's runs in grid order; `bootstrap` gives the level and seed (its number of
/// resamples is replaced by [`REPLICATES`]).
pub fn compare_examples(
    runs: &[RunRow],
    predictions: &[StoredPredictions],
    baseline: &str,
    variants: &[String],
    bootstrap: &Bootstrap,
) -> Vec<ExampleComparison> {
    let settings = Bootstrap {
        resamples: REPLICATES,
        ..*bootstrap
    };
    let done: BTreeMap<&str, &RunRow> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Done.as_str())
        .map(|r| (r.run_key.as_str(), r))
        .collect();
    // (setting order, split) → predictions of done runs, in grid order.
    let order: Vec<Setting> = {
        let mut v: Vec<Setting> = Vec::new();
        for r in runs {
            let s = Setting::of(r);
            if !v.contains(&s) {
                v.push(s);
            }
        }
        v
    };
    let mut groups: BTreeMap<(usize, String), Vec<&StoredPredictions>> = BTreeMap::new();
    for p in predictions {
        let Some(run) = done.get(p.run_key.as_str()) else {
            continue;
        };
        let si = order
            .iter()
            .position(|s| *s == Setting::of(run))
            .unwrap_or(0);
        groups.entry((si, p.split.clone())).or_default().push(p);
    }
    let mut out = Vec::new();
    for ((si, split), preds) in groups {
        let setting = order[si].clone();
        let run_variants: Vec<String> = preds.iter().map(|p| p.variant.clone()).collect();
        let count = |v: &str| run_variants.iter().filter(|x| x.as_str() == v).count();
        let arrays = arrays(&preds);
        let kind = match &arrays {
            Ok(Arrays::Classes { gold, seeds }) => TaskKind::Classification {
                num_labels: gold
                    .iter()
                    .chain(seeds.iter().flat_map(|(_, p)| p))
                    .max()
                    .map_or(2, |m| m + 1)
                    .max(2),
            },
            Ok(Arrays::Scores { .. }) => TaskKind::Regression,
            Err(_) => TaskKind::Classification { num_labels: 2 },
        };
        let examples = preds.first().map_or(0, |p| p.values.len());
        for &name in metrics::metric_names(&setting.task, &kind) {
            for variant in variants.iter().filter(|v| v.as_str() != baseline) {
                if count(variant) == 0 || count(baseline) == 0 {
                    continue;
                }
                let (mb, mcn) = match &arrays {
                    Err(e) => (Err(e.clone()), None),
                    Ok(Arrays::Classes { gold, seeds }) => {
                        let base = split_by_variant(seeds, &run_variants, baseline);
                        let var = split_by_variant(seeds, &run_variants, variant);
                        let metric = class_metric(name).expect("a classification metric");
                        (
                            run_multibootstrap(gold, &base, &var, metric, &settings),
                            (name == "acc")
                                .then(|| mcnemar_summary(gold, &base, &var))
                                .flatten(),
                        )
                    }
                    Ok(Arrays::Scores { gold, seeds }) => {
                        let base = split_by_variant(seeds, &run_variants, baseline);
                        let var = split_by_variant(seeds, &run_variants, variant);
                        let metric = score_metric(name).expect("a regression metric");
                        (
                            run_multibootstrap(gold, &base, &var, metric, &settings),
                            None,
                        )
                    }
                };
                out.push(ExampleComparison {
                    setting: setting.clone(),
                    metric: MetricKey::new(&split, name),
                    variant: variant.clone(),
                    baseline: baseline.to_string(),
                    examples,
                    baseline_seeds: count(baseline),
                    variant_seeds: count(variant),
                    multibootstrap: mb,
                    mcnemar: mcn,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::load;
    use crate::synthetic::SyntheticRun;

    fn classes(predicted: Vec<u32>, gold: Vec<u32>) -> ExampleValues {
        ExampleValues::Classes { predicted, gold }
    }

    /// spam (acc and f1): 3 seeds per arm on 8 examples; the baseline's seed 3 and a diverged
    /// variant run are left out where they must be.
    #[test]
    fn scores_recomputed_from_predictions_and_paired_by_seed() {
        let gold = vec![1, 0, 1, 1, 0, 0, 1, 0];
        let base = [
            vec![1, 0, 0, 1, 0, 1, 1, 0], // 6/8
            vec![1, 1, 1, 1, 0, 0, 0, 0], // 6/8
            vec![0, 0, 1, 1, 0, 0, 1, 0], // 7/8
        ];
        let var = [
            vec![1, 0, 1, 1, 0, 0, 1, 0], // 8/8
            vec![1, 0, 1, 1, 0, 1, 1, 0], // 7/8
            vec![1, 0, 1, 0, 0, 0, 1, 0], // 7/8
        ];
        let mut runs = Vec::new();
        for (variant, preds) in [("baseline", &base), ("cross_head", &var)] {
            for (i, p) in preds.iter().enumerate() {
                runs.push(
                    SyntheticRun::done("spam", variant, i as u64 + 1, &[])
                        .with_predictions("dev", classes(p.clone(), gold.clone())),
                );
            }
        }
        runs.push(
            SyntheticRun::done("spam", "cross_head", 4, &[])
                .with_predictions("dev", classes(vec![0; 8], gold.clone()))
                .with_status(RunStatus::Diverged, Some("NaN")),
        );
        let (data, _dir) = load(&runs, true);
        assert_eq!(data.predictions.len(), 6, "the diverged run wrote none");
        let out = compare_examples(
            &data.runs,
            &data.predictions,
            "baseline",
            &["baseline".into(), "cross_head".into()],
            &Bootstrap::default(),
        );
        let labels: Vec<String> = out.iter().map(|c| c.metric.label()).collect();
        assert_eq!(labels, ["acc", "f1"]);
        let acc = &out[0];
        assert_eq!(
            (acc.examples, acc.baseline_seeds, acc.variant_seeds),
            (8, 3, 3)
        );
        let mb = acc.multibootstrap.as_ref().unwrap();
        assert_eq!(mb.baseline_scores, vec![0.75, 0.75, 0.875]);
        assert_eq!(mb.variant_scores, vec![1.0, 0.875, 0.875]);
        // The stored dev/acc of each run (written by with_predictions from data::metrics)
        // equals the recomputed score.
        let stored: Vec<f64> = data
            .runs
            .iter()
            .filter(|r| r.variant == "baseline")
            .map(|r| {
                data.results[&r.run_key]
                    .iter()
                    .find(|x| x.name == "acc")
                    .unwrap()
                    .value
            })
            .collect();
        assert_eq!(stored, mb.baseline_scores);
        // McNemar per seed (variant right and baseline wrong / the reverse): seed 1 at
        // examples 2, 5 / none; seed 2 at 1, 6 / 5; seed 3 at 0 / 3.
        let m = acc.mcnemar.as_ref().unwrap();
        let counts: Vec<(i64, u64, u64)> = m
            .per_seed
            .iter()
            .map(|s| (s.seed, s.test.a_only, s.test.b_only))
            .collect();
        assert_eq!(counts, [(1, 2, 0), (2, 2, 1), (3, 1, 1)]);
        // Exact McNemar: p(2, 0) = 2 · 0.5² = 0.5; nothing is significant with 8 examples.
        assert!((m.per_seed[0].test.p_value - 0.5).abs() < 1e-12);
        assert_eq!(
            (m.variant_better, m.baseline_better, m.not_significant),
            (0, 0, 3)
        );
        assert_eq!((m.variant_only_right, m.baseline_only_right), (5, 2));
        // F1 is recomputed, and has no McNemar.
        let f1 = &out[1];
        assert!(f1.mcnemar.is_none());
        let f1_scores = &f1.multibootstrap.as_ref().unwrap().baseline_scores;
        assert_eq!(
            f1_scores[0],
            metrics::f1_positive(&[1, 0, 0, 1, 0, 1, 1, 0], &[1, 0, 1, 1, 0, 0, 1, 0])
        );
    }

    #[test]
    fn a_group_holds_one_evaluation_set_of_one_kind() {
        let run = |key: &str, seed, values| StoredPredictions {
            run_key: key.into(),
            task: "stsb".into(),
            variant: "baseline".into(),
            seed,
            split: "dev".into(),
            values,
        };
        let scores =
            |predicted: Vec<f32>, gold: Vec<f32>| ExampleValues::Scores { predicted, gold };
        let (a, b) = (
            run("a", 1, scores(vec![0.5, 2.0], vec![1.0, 2.0])),
            run("b", 2, scores(vec![1.5, 2.5], vec![1.0, 2.0])),
        );
        match arrays(&[&a, &b]).unwrap() {
            Arrays::Scores { gold, seeds } => {
                assert_eq!(gold, [1.0, 2.0]);
                assert_eq!(seeds, [(1, vec![0.5, 2.0]), (2, vec![1.5, 2.5])]);
            }
            Arrays::Classes { .. } => panic!("scores read as classes"),
        }
        let other = run("c", 3, scores(vec![1.0, 2.0], vec![1.0, 3.0]));
        let e = arrays(&[&a, &other]).err().unwrap();
        assert_eq!(
            e,
            "run c was evaluated on other examples (other gold scores) than the runs before it"
        );
        let mixed = run("d", 4, classes(vec![1, 0], vec![1, 0]));
        let e = arrays(&[&a, &mixed]).err().unwrap();
        assert_eq!(
            e,
            "run d stored class predictions where others stored scores, or the reverse"
        );
        assert_eq!(arrays(&[]).err().unwrap(), "no predictions");
        match arrays(&[&mixed]).unwrap() {
            Arrays::Classes { gold, seeds } => {
                assert_eq!((gold, seeds), (vec![1, 0], vec![(4, vec![1, 0])]))
            }
            Arrays::Scores { .. } => panic!("classes read as scores"),
        }
    }

    #[test]
    fn other_evaluation_sets_and_too_few_seeds_are_named() {
        let runs = vec![
            SyntheticRun::done("rte", "baseline", 1, &[])
                .with_predictions("dev", classes(vec![1, 0], vec![1, 0])),
            SyntheticRun::done("rte", "baseline", 2, &[])
                .with_predictions("dev", classes(vec![1, 0], vec![1, 1])),
            SyntheticRun::done("rte", "cross_head", 1, &[])
                .with_predictions("dev", classes(vec![1, 0], vec![1, 0])),
            SyntheticRun::done("rte", "baseline", 1, &[])
                .with_predictions("dev_b", classes(vec![1, 0], vec![1, 0])),
            SyntheticRun::done("rte", "cross_head", 1, &[])
                .with_predictions("dev_b", classes(vec![1, 1], vec![1, 0])),
        ];
        let (data, _dir) = load(&runs, true);
        let out = compare_examples(
            &data.runs,
            &data.predictions,
            "baseline",
            &["baseline".into(), "cross_head".into()],
            &Bootstrap::default(),
        );
        assert_eq!(out.len(), 2);
        let e = out[0].multibootstrap.as_ref().unwrap_err();
        assert!(e.contains("other gold labels"), "{e}");
        assert!(out[0].mcnemar.is_none());
        let e = out[1].multibootstrap.as_ref().unwrap_err();
        assert!(e.contains("the baseline has 1 seed(s)"), "{e}");
        // McNemar needs one seed only.
        assert_eq!(out[1].mcnemar.as_ref().unwrap().per_seed.len(), 1);
    }
}
