//! The official GLUE metrics (Wang et al., 2019), implemented from their definitions, and the
//! majority-class baseline used to count degenerate fine-tuning runs (Mosbach et al., 2021).
//!
//! | task | metrics reported | primary |
//! |---|---|---|
//! | cola | mcc | mcc |
//! | sst2 | acc | acc |
//! | mrpc | acc, f1 | f1 |
//! | stsb | pearson, spearman | pearson |
//! | qqp | acc, f1 | f1 |
//! | mnli | acc (per dev split: matched, mismatched) | acc on `dev_matched` |
//! | qnli, rte, wnli | acc | acc |
//! | spam | acc, f1 | f1 |
//! | kjv_next, kjv_testament | acc | acc |
//!
//! QQP's primary metric is F1, as in BERT's Table 1 (Devlin et al., 2019), which reports F1 for
//! both paraphrase tasks (MRPC, QQP); the GLUE leaderboard shows F1 and accuracy for both.
//! `spam` uses F1 because its classes are imbalanced (about 31% spam), so an all-ham model
//! scores 0 instead of a high accuracy. F1 is always that of the positive class 1.
//!
//! Conventions where a definition divides by zero: MCC is 0 when any confusion-matrix margin
//! is empty (as scikit-learn does); F1 is 0 when there are no true positives; Pearson and
//! Spearman are 0 when either side is constant (scipy returns NaN there; 0 keeps a constant
//! predictor, e.g. the regression baseline, comparable instead of poisoning means).

use super::{Label, TaskKind};
use crate::task::Task;

/// Model outputs for one evaluation split.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// Predicted class ids (classification tasks).
    Classes(Vec<usize>),
    /// Predicted scores (STS-B).
    Scores(Vec<f32>),
}

impl Predictions {
    pub fn len(&self) -> usize {
        match self {
            Predictions::Classes(v) => v.len(),
            Predictions::Scores(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The metric a task's headline score is read from (see the module doc for the choices);
/// `acc` for names the task registry does not know.
pub fn primary_metric(task: &str) -> &'static str {
    Task::from_name(task).map_or("acc", Task::primary_metric)
}

/// The metric names [`evaluate`] returns for `task`, in order: the registry's, or for a name
/// it does not know, those of `kind` (`pearson spearman` for regression, else `acc`).
pub fn metric_names(task: &str, kind: &TaskKind) -> &'static [&'static str] {
    match (Task::from_name(task), kind) {
        (Some(t), _)
            if t.kind().map(|k| std::mem::discriminant(&k))
                == Some(std::mem::discriminant(kind)) =>
        {
            t.metrics()
        }
        (_, TaskKind::Regression) => &["pearson", "spearman"],
        _ => &["acc"],
    }
}

/// The task's official metrics of `preds` against `gold`.
///
/// # Panics
/// When the lengths differ, or when the predictions or gold labels do not match `kind`
/// (class ids for classification, scores for regression): these are caller bugs.
pub fn evaluate(
    task: &str,
    kind: &TaskKind,
    preds: &Predictions,
    gold: &[Label],
) -> Vec<(String, f64)> {
    assert_eq!(
        preds.len(),
        gold.len(),
        "{task}: {} predictions for {} gold labels",
        preds.len(),
        gold.len()
    );
    let names = metric_names(task, kind);
    let value = |name: &str| -> f64 {
        match (kind, preds) {
            (TaskKind::Classification { .. }, Predictions::Classes(p)) => {
                let g = gold_classes(task, gold);
                match name {
                    "acc" => accuracy(p, &g),
                    "f1" => f1_positive(p, &g),
                    "mcc" => matthews(p, &g),
                    _ => unreachable!("metric {name}"),
                }
            }
            (TaskKind::Regression, Predictions::Scores(p)) => {
                let x: Vec<f64> = p.iter().map(|&v| v as f64).collect();
                let y = gold_scores(task, gold);
                match name {
                    "pearson" => pearson(&x, &y),
                    "spearman" => spearman(&x, &y),
                    _ => unreachable!("metric {name}"),
                }
            }
            _ => panic!("{task}: predictions {preds:?} do not match task kind {kind:?}"),
        }
    };
    names.iter().map(|n| (n.to_string(), value(n))).collect()
}

/// The metrics of always predicting the most frequent train class (ties: the lowest class
/// id) or, for regression, the train mean, evaluated on `dev_labels`. A run scoring at or
/// below this on the primary metric is degenerate.
pub fn majority_baseline(
    task: &str,
    kind: &TaskKind,
    train_labels: &[Label],
    dev_labels: &[Label],
) -> Vec<(String, f64)> {
    assert!(!train_labels.is_empty(), "{task}: no train labels");
    let preds = match kind {
        TaskKind::Classification { num_labels } => {
            let mut counts = vec![0usize; *num_labels];
            for c in gold_classes(task, train_labels) {
                counts[c] += 1;
            }
            // First maximum: ties go to the lowest class id.
            let best = counts
                .iter()
                .enumerate()
                .fold((0, 0), |acc, (i, &n)| if n > acc.1 { (i, n) } else { acc })
                .0;
            Predictions::Classes(vec![best; dev_labels.len()])
        }
        TaskKind::Regression => {
            let y = gold_scores(task, train_labels);
            let mean = y.iter().sum::<f64>() / y.len() as f64;
            Predictions::Scores(vec![mean as f32; dev_labels.len()])
        }
    };
    evaluate(task, kind, &preds, dev_labels)
}

fn gold_classes(task: &str, gold: &[Label]) -> Vec<usize> {
    gold.iter()
        .map(|l| match l {
            Label::Class(c) => *c,
            Label::Score(_) => panic!("{task}: score label in a classification task"),
        })
        .collect()
}

fn gold_scores(task: &str, gold: &[Label]) -> Vec<f64> {
    gold.iter()
        .map(|l| match l {
            Label::Score(s) => *s as f64,
            Label::Class(_) => panic!("{task}: class label in a regression task"),
        })
        .collect()
}

/// Fraction of exact matches; 0 for empty input.
pub fn accuracy(pred: &[usize], gold: &[usize]) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    let hits = pred.iter().zip(gold).filter(|(p, g)| p == g).count();
    hits as f64 / gold.len() as f64
}

/// Binary confusion counts with class 1 as positive: (tp, fp, fn, tn).
fn confusion(pred: &[usize], gold: &[usize]) -> (f64, f64, f64, f64) {
    let (mut tp, mut fp, mut fnn, mut tn) = (0.0, 0.0, 0.0, 0.0);
    for (&p, &g) in pred.iter().zip(gold) {
        match (p == 1, g == 1) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fnn += 1.0,
            (false, false) => tn += 1.0,
        }
    }
    (tp, fp, fnn, tn)
}

/// F1 of the positive class 1: 2·TP / (2·TP + FP + FN); 0 when TP = 0.
pub fn f1_positive(pred: &[usize], gold: &[usize]) -> f64 {
    let (tp, fp, fnn, _) = confusion(pred, gold);
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fnn)
    }
}

/// Matthews correlation coefficient (Matthews, 1975) of a binary problem:
/// (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)), 0 when the denominator is 0.
pub fn matthews(pred: &[usize], gold: &[usize]) -> f64 {
    let (tp, fp, fnn, tn) = confusion(pred, gold);
    let denom = ((tp + fp) * (tp + fnn) * (tn + fp) * (tn + fnn)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (tp * tn - fp * fnn) / denom
    }
}

/// Pearson product-moment correlation; 0 when either side has zero variance.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len());
    let n = x.len() as f64;
    if x.is_empty() {
        return 0.0;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0)
    }
}

/// 1-based ranks, ties given the average of the ranks they span.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && x[idx[j]] == x[idx[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share ranks i+1..=j, whose mean is (i + 1 + j) / 2.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

/// Spearman rank correlation: Pearson correlation of average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    fn get(m: &[(String, f64)], name: &str) -> f64 {
        m.iter().find(|(n, _)| n == name).unwrap().1
    }

    const BIN: TaskKind = TaskKind::Classification { num_labels: 2 };

    fn classes(v: &[usize]) -> Vec<Label> {
        v.iter().map(|&c| Label::Class(c)).collect()
    }

    // gold = 1 1 1 1 0 0 0 0 0 0, pred = 1 1 1 0 1 1 0 0 0 0
    // → TP = 3, FN = 1, FP = 2, TN = 4.
    const GOLD: [usize; 10] = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
    const PRED: [usize; 10] = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0];

    #[test]
    fn confusion_matrix_metrics_by_hand() {
        // acc = (TP + TN) / 10 = 7/10.
        close(accuracy(&PRED, &GOLD), 0.7);
        // F1 = 2·3 / (2·3 + 2 + 1) = 6/9.
        close(f1_positive(&PRED, &GOLD), 6.0 / 9.0);
        // MCC = (3·4 − 2·1) / sqrt(5·4·6·5) = 10 / sqrt(600) = 0.408248290463863
        // (sklearn.metrics.matthews_corrcoef gives 0.408248290463863).
        close(matthews(&PRED, &GOLD), 10.0 / 600f64.sqrt());
        close(matthews(&PRED, &GOLD), 0.408_248_290_463_863);
    }

    #[test]
    fn mcc_and_f1_degenerate_cases() {
        // Constant prediction: (TP+FP)(TN+FN) has a zero factor → 0 by convention.
        assert_eq!(matthews(&[0; 10], &GOLD), 0.0);
        assert_eq!(matthews(&[1; 10], &GOLD), 0.0);
        // Perfect and inverted predictions give ±1.
        close(matthews(&GOLD, &GOLD), 1.0);
        let inv: Vec<usize> = GOLD.iter().map(|g| 1 - g).collect();
        close(matthews(&inv, &GOLD), -1.0);
        // No true positive → F1 = 0; all-positive: 2·4 / (2·4 + 6) = 8/14.
        assert_eq!(f1_positive(&[0; 10], &GOLD), 0.0);
        close(f1_positive(&[1; 10], &GOLD), 8.0 / 14.0);
    }

    #[test]
    fn pearson_by_hand() {
        // x = 1 2 3 4 5, y = 2 4 5 4 5: mean x = 3, mean y = 4;
        // Σdxdy = (-2)(-2) + (-1)(0) + 0 + (1)(0) + (2)(1) = 6; Σdx² = 10; Σdy² = 6;
        // r = 6 / sqrt(60) = 0.7745966692414834 (scipy.stats.pearsonr: 0.7745966692414834).
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 5.0, 4.0, 5.0];
        close(pearson(&x, &y), 6.0 / 60f64.sqrt());
        close(pearson(&x, &x), 1.0);
        assert_eq!(pearson(&x, &[3.0; 5]), 0.0);
    }

    #[test]
    fn spearman_with_ties_by_hand() {
        // y = 2 4 5 4 5 has ties: sorted 2,4,4,5,5 → ranks 1, (2+3)/2, (4+5)/2.
        let y = [2.0, 4.0, 5.0, 4.0, 5.0];
        assert_eq!(average_ranks(&y), vec![1.0, 2.5, 4.5, 2.5, 4.5]);
        // rank(x) = 1..5, rank(y) = 1 2.5 4.5 2.5 4.5 (mean 3):
        // Σdxdy = (-2)(-2) + (-1)(-0.5) + 0·1.5 + 1·(-0.5) + 2·1.5 = 7;
        // Σdx² = 10; Σdy² = 4 + 0.25 + 2.25 + 0.25 + 2.25 = 9;
        // ρ = 7 / sqrt(90) = 0.7378647873726218 (scipy.stats.spearmanr: 0.7378647873726218).
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        close(spearman(&x, &y), 7.0 / 90f64.sqrt());
        // Monotone but non-linear → Spearman 1, Pearson < 1.
        let cube: Vec<f64> = x.iter().map(|v| v * v * v).collect();
        close(spearman(&x, &cube), 1.0);
        assert!(pearson(&x, &cube) < 0.99);
    }

    #[test]
    fn evaluate_reports_each_tasks_metrics() {
        let gold = classes(&GOLD);
        let p = Predictions::Classes(PRED.to_vec());
        let m = evaluate("mrpc", &BIN, &p, &gold);
        assert_eq!(m.len(), 2);
        close(get(&m, "acc"), 0.7);
        close(get(&m, "f1"), 6.0 / 9.0);
        let m = evaluate("cola", &BIN, &p, &gold);
        assert_eq!(m.len(), 1);
        close(get(&m, "mcc"), 10.0 / 600f64.sqrt());
        assert_eq!(evaluate("rte", &BIN, &p, &gold)[0].0, "acc");

        let gold: Vec<Label> = [2.0, 4.0, 5.0, 4.0, 5.0].map(Label::Score).to_vec();
        let p = Predictions::Scores(vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let m = evaluate("stsb", &TaskKind::Regression, &p, &gold);
        close(get(&m, "pearson"), 6.0 / 60f64.sqrt());
        close(get(&m, "spearman"), 7.0 / 90f64.sqrt());

        // Three classes: accuracy only.
        let k3 = TaskKind::Classification { num_labels: 3 };
        let m = evaluate(
            "mnli",
            &k3,
            &Predictions::Classes(vec![0, 1, 2, 2]),
            &classes(&[0, 1, 2, 1]),
        );
        assert_eq!(m, vec![("acc".to_string(), 0.75)]);
    }

    #[test]
    fn primary_metrics() {
        assert_eq!(primary_metric("cola"), "mcc");
        assert_eq!(primary_metric("mrpc"), "f1");
        assert_eq!(primary_metric("qqp"), "f1");
        assert_eq!(primary_metric("stsb"), "pearson");
        assert_eq!(primary_metric("mnli"), "acc");
        assert_eq!(primary_metric("spam"), "f1");
        assert_eq!(primary_metric("kjv_next"), "acc");
        assert_eq!(primary_metric("kjv_testament"), "acc");
        for t in Task::ALL.iter().filter(|t| !t.is_language_modelling()) {
            let t = t.as_str();
            let kind = crate::data::glue::task_kind(t).unwrap();
            assert!(metric_names(t, &kind).contains(&primary_metric(t)), "{t}");
        }
    }

    #[test]
    fn majority_baseline_predicts_train_majority() {
        // Train majority is class 1 (3 of 5); on dev = GOLD, always-1 gives
        // acc 4/10, F1 8/14, MCC 0.
        let train = classes(&[1, 1, 0, 1, 0]);
        let m = majority_baseline("mrpc", &BIN, &train, &classes(&GOLD));
        close(get(&m, "acc"), 0.4);
        close(get(&m, "f1"), 8.0 / 14.0);
        let m = majority_baseline("cola", &BIN, &train, &classes(&GOLD));
        assert_eq!(get(&m, "mcc"), 0.0);
        // Tie (1 vs 1): the lowest class id, 0 → acc 6/10 on GOLD.
        let m = majority_baseline("sst2", &BIN, &classes(&[1, 0]), &classes(&GOLD));
        close(get(&m, "acc"), 0.6);
        // Regression: constant train mean → correlations 0.
        let s: Vec<Label> = [1.0, 2.0, 4.0].map(Label::Score).to_vec();
        let m = majority_baseline("stsb", &TaskKind::Regression, &s, &s);
        assert_eq!(m, vec![("pearson".into(), 0.0), ("spearman".into(), 0.0)]);
    }

    #[test]
    #[should_panic(expected = "3 predictions for 2 gold labels")]
    fn length_mismatch_panics() {
        evaluate(
            "sst2",
            &BIN,
            &Predictions::Classes(vec![0, 1, 1]),
            &classes(&[0, 1]),
        );
    }
}
