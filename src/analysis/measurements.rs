//! What a run measured about itself rather than about the model's quality: speed and memory
//! (which depend on the machine and are benchmarks, never checked or tested for variance) and
//! facts of the run (parameter counts, skipped-layer fractions, evaluated tokens). They are
//! summarised per variant here, next to their ratio to the baseline, and kept out of the
//! variance statistics.

use super::{MetricKey, Setting, MAJORITY_PREFIX};
use crate::stats::Summary;
use crate::store::{RunRow, RunStatus};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What a final result row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    /// A score of the model (accuracy, bits per character, perplexity, loss …).
    Metric,
    /// Speed or memory of this machine: differs from run to run.
    Measurement,
    /// A deterministic fact of the run that is not a score: parameter counts, skipped-layer
    /// fractions, the number of evaluated tokens.
    Fact,
}

/// The kind of the result named `name` (majority-class rows are metrics of the data).
pub fn result_kind(name: &str) -> ResultKind {
    const MEASUREMENTS: [&str; 5] = [
        "ms_per_step",
        "tokens_per_s",
        "examples_per_s",
        "peak_memory",
        "duration_s",
    ];
    const FACTS: [&str; 2] = ["params_", "skip_fraction_"];
    if MEASUREMENTS.iter().any(|p| name.starts_with(p)) {
        ResultKind::Measurement
    } else if name == "tokens" || name == "examples" || FACTS.iter().any(|p| name.starts_with(p)) {
        ResultKind::Fact
    } else {
        ResultKind::Metric
    }
}

/// Whether a result is discrete: a count, or a score computed from predicted classes (accuracy,
/// F1, MCC). It is the same to the last bit on any machine unless a prediction flips, while
/// float results (losses, bits per character, perplexity, correlations of predicted scores) move
/// in their last bits with the CPU's kernels. `harness check` keeps discrete results exact.
pub fn is_discrete(name: &str) -> bool {
    let name = name.strip_prefix(MAJORITY_PREFIX).unwrap_or(name);
    matches!(name, "acc" | "f1" | "mcc") || result_kind(name) == ResultKind::Fact
}

/// Name of the derived per-run ratio of phase-1 to phase-2 milliseconds per step (METHODS §5
/// expects ≈ 0.81 at 12 layers with the functional schedule).
pub const PHASE_SPEED_RATIO: &str = "ms_per_step_phase1_over_phase2";

/// One variant's values of a measurement.
#[derive(Debug, Clone, Serialize)]
pub struct VariantMeasurement {
    pub variant: String,
    pub summary: Summary,
    /// Mean of this variant over the baseline's mean; `None` for the baseline itself or when
    /// the baseline has no value.
    pub vs_baseline: Option<f64>,
}

/// A measurement or fact of one setting, per variant.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub setting: Setting,
    pub key: MetricKey,
    pub kind: ResultKind,
    pub variants: Vec<VariantMeasurement>,
}

/// Per-run values of measurements and facts: the result rows that are not metrics, the derived
/// phase speed ratio, and from the runs table the wall time, and peak memory and throughput
/// where the results hold none.
fn run_values(run: &RunRow, results: &[crate::store::ResultRow]) -> Vec<(MetricKey, f64)> {
    let mut out: Vec<(MetricKey, f64)> = results
        .iter()
        .filter(|r| !r.name.starts_with(MAJORITY_PREFIX))
        .filter(|r| result_kind(&r.name) != ResultKind::Metric)
        .map(|r| (MetricKey::new(&r.split, &r.name), r.value))
        .collect();
    let get = |name: &str| {
        results
            .iter()
            .find(|r| r.split == "train" && r.name == name)
            .map(|r| r.value)
    };
    if let (Some(p1), Some(p2)) = (get("ms_per_step_phase1"), get("ms_per_step_phase2")) {
        out.push((MetricKey::new("train", PHASE_SPEED_RATIO), p1 / p2));
    }
    let has = |prefix: &str| results.iter().any(|r| r.name.starts_with(prefix));
    if let Some(d) = run.duration_s {
        out.push((MetricKey::new("run", "duration_s"), d));
    }
    if !has("peak_memory") {
        if let Some(b) = run.peak_memory_bytes {
            out.push((MetricKey::new("run", "peak_memory_bytes"), b as f64));
        }
    }
    if !has("tokens_per_s") && !has("examples_per_s") {
        if let Some(x) = run.train_examples_per_s {
            out.push((MetricKey::new("run", "examples_per_s"), x));
        }
    }
    out.retain(|(_, v)| v.is_finite());
    out
}

/// The measurements and facts of the done runs per setting and variant, in setting order, then
/// facts before measurements, then by name.
pub fn measurements(
    runs: &[RunRow],
    results: &HashMap<String, Vec<crate::store::ResultRow>>,
    settings: &[Setting],
    variants: &[String],
    baseline: &str,
) -> Vec<Measurement> {
    type Acc = BTreeMap<(usize, MetricKey), HashMap<String, Vec<f64>>>;
    let mut acc: Acc = BTreeMap::new();
    for r in runs.iter().filter(|r| r.status == RunStatus::Done.as_str()) {
        let Some(si) = settings.iter().position(|s| *s == Setting::of(r)) else {
            continue;
        };
        let rows = results.get(&r.run_key).map_or(&[][..], Vec::as_slice);
        for (key, value) in run_values(r, rows) {
            acc.entry((si, key))
                .or_default()
                .entry(r.variant.clone())
                .or_default()
                .push(value);
        }
    }
    let mut out: Vec<Measurement> = acc
        .into_iter()
        .map(|((si, key), by_variant)| {
            let summary = |v: &str| by_variant.get(v).and_then(|x| Summary::of(x));
            let base = summary(baseline).map(|s| s.mean);
            Measurement {
                setting: settings[si].clone(),
                kind: match key.split.as_str() {
                    "run" => ResultKind::Measurement,
                    _ => result_kind(&key.name),
                },
                variants: variants
                    .iter()
                    .filter_map(|v| {
                        summary(v).map(|s| VariantMeasurement {
                            variant: v.clone(),
                            vs_baseline: match base {
                                Some(b) if v != baseline && b != 0.0 => Some(s.mean / b),
                                _ => None,
                            },
                            summary: s,
                        })
                    })
                    .collect(),
                key,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let sa = settings.iter().position(|s| *s == a.setting);
        let sb = settings.iter().position(|s| *s == b.setting);
        sa.cmp(&sb)
            .then(b.kind.cmp(&a.kind))
            .then(a.key.cmp(&b.key))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::load;
    use crate::synthetic::SyntheticRun;

    #[test]
    fn scores_of_predicted_classes_and_counts_are_discrete_losses_are_not() {
        for name in [
            "acc",
            "f1",
            "mcc",
            "majority_acc",
            "examples",
            "tokens",
            "params_total",
        ] {
            assert!(is_discrete(name), "{name}");
        }
        for name in [
            "loss",
            "bpc",
            "ppl",
            "pearson",
            "spearman",
            "examples_per_s",
        ] {
            assert!(!is_discrete(name), "{name}");
        }
    }

    #[test]
    fn kinds_of_results() {
        for m in ["bpc", "ppl", "loss", "acc", "majority_acc", "f1"] {
            assert_eq!(result_kind(m), ResultKind::Metric, "{m}");
        }
        for m in [
            "ms_per_step_phase1",
            "tokens_per_s",
            "tokens_per_s_phase2",
            "peak_memory_bytes",
            "examples_per_s",
        ] {
            assert_eq!(result_kind(m), ResultKind::Measurement, "{m}");
        }
        for m in [
            "params_total",
            "params_non_embedding",
            "skip_fraction_expected",
            "skip_fraction_observed_phase1",
            "tokens",
        ] {
            assert_eq!(result_kind(m), ResultKind::Fact, "{m}");
        }
    }

    /// A language-model run with `phase1` ms per step when it has a phase 1.
    fn lm(
        variant: &str,
        seed: u64,
        bpc: f64,
        phase1: Option<f64>,
        phase2: f64,
        memory: f64,
    ) -> SyntheticRun {
        let mut r = SyntheticRun::done("wikisample_bytes", variant, seed, &[]);
        r.results = vec![
            ("valid".into(), "bpc".into(), bpc),
            ("valid".into(), "tokens".into(), 1000.0),
            ("train".into(), "params_total".into(), 5000.0),
            ("train".into(), "peak_memory_bytes".into(), memory),
        ];
        r.results
            .push(("train".into(), "ms_per_step_phase2".into(), phase2));
        if let Some(p1) = phase1 {
            r.results
                .push(("train".into(), "ms_per_step_phase1".into(), p1));
        }
        r
    }

    #[test]
    fn measurements_are_summarised_apart_from_the_metrics() {
        let runs = vec![
            lm("baseline", 1, 1.50, None, 100.0, 1000.0),
            lm("baseline", 2, 1.52, None, 110.0, 1100.0),
            lm("two_phase", 1, 1.49, Some(80.0), 100.0, 1050.0),
            lm("two_phase", 2, 1.51, Some(90.0), 100.0, 1050.0),
        ];
        let (data, _dir) = load(&runs, false);
        let a = super::super::analyse(&data, &super::super::Options::default());
        // Only bpc is a metric compared across variants.
        let labels: Vec<String> = a.metrics.iter().map(|m| m.metric.label()).collect();
        assert_eq!(labels, ["valid/bpc"]);

        let find = |label: &str| {
            a.measurements
                .iter()
                .find(|m| m.key.label() == label)
                .unwrap_or_else(|| panic!("no {label}"))
        };
        // Facts first: parameter counts and evaluated tokens.
        assert_eq!(a.measurements[0].kind, ResultKind::Fact);
        assert_eq!(find("valid/tokens").kind, ResultKind::Fact);
        let ratio = find(&format!("train/{PHASE_SPEED_RATIO}"));
        assert_eq!(ratio.variants.len(), 1); // the baseline has no phase 1
        let r = &ratio.variants[0];
        assert_eq!(r.variant, "two_phase");
        assert!((r.summary.mean - 0.85).abs() < 1e-12); // mean of 0.8 and 0.9
        let mem = find("train/peak_memory_bytes");
        assert_eq!(mem.kind, ResultKind::Measurement);
        assert_eq!(mem.variants[0].vs_baseline, None);
        // 1050 / mean(1000, 1100) = 1.0
        assert_eq!(mem.variants[1].vs_baseline, Some(1.0));
        // The synthetic runs' wall time comes from the runs table: 10 + seed seconds.
        let d = find("run/duration_s");
        assert_eq!(d.variants[0].summary.mean, 11.5);
        // Peak memory is in the results, so not repeated from the runs table.
        assert!(a
            .measurements
            .iter()
            .all(|m| m.key.label() != "run/peak_memory_bytes"));
    }
}
