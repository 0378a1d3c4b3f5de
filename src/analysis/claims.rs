//! Verdicts on the claims a spec states (`spec::claims`): for each claim and each task it covers,
//! whether the results support it, contradict it or leave it undecided, with the interval the
//! verdict rests on and, when undecided, how many seeds per arm would decide it.
//!
//! - A std-reduction claim (σ_v/σ_ref = r₀ = 1 − reduction) on one task rests on the seeds-only
//!   bootstrap interval of σ_v/σ_ref (`stats::bootstrap`): **supported** when the interval lies
//!   below 1 (the spread is reduced) and contains r₀; **contradicted** when it excludes r₀ (the
//!   reduction is larger or smaller than claimed, or there is none); **undecided** otherwise
//!   (it contains both r₀ and 1). Over several tasks the claim's verdict rests on the pooled
//!   ratio (geometric mean over tasks) and its stratified bootstrap interval (`stats::pooled`).
//! - A target claim (the variant's mean within target ± tolerance) rests on the bootstrap
//!   interval of the mean: supported when the interval lies inside the band, contradicted when
//!   it lies entirely outside, undecided otherwise. Over several tasks: contradicted if any task
//!   contradicts it, supported if all support it, undecided otherwise.
//! - A task an arm has not learned (`learned`) leaves the claim undecided on it and stays out of
//!   the pooled ratio; so does a task with fewer than two done runs in an arm.
//! - Seeds to decide: `stats::power::seeds_to_decide_ratio` and
//!   `stats::target_power::seeds_to_decide_target`, with the data so far taken as the truth.
//! - Where an arm's scores are not normal (the Monte Carlo bimodality test rejects, or the arm
//!   mixes degenerate and learned runs), the normal-theory reading is doubtful and the verdict
//!   row also gives Almost Stochastic Order (`stats::aso`) of the variant against the reference.

use super::learned::{has_not_learned, not_interpretable, NotLearned};
use super::{
    count_degenerate, Analysis, Direction, ExperimentData, MetricAnalysis, MetricKey, Setting,
};
use crate::spec::claims::{Claimed, PRIMARY};
use crate::spec::{ClaimSpec, Spec};
use crate::stats::bimodality::{bimodality_test, BimodalitySettings};
use crate::stats::pooled::{pooled_std_ratio, pooled_std_ratio_interval, Stratum};
use crate::stats::power::seeds_to_decide_ratio;
use crate::stats::summary::{mean, std_dev};
use crate::stats::target_power::{seeds_to_decide_target, TargetProblem};
use crate::stats::{almost_stochastic_order, Aso, AsoSettings, Bootstrap, Interval, PowerSettings};
use serde::Serialize;

/// Largest number of seeds per arm the sample-size answer searches.
pub const MAX_SEEDS: usize = 400;

/// The verdict on a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Supported,
    Contradicted,
    Undecided,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Contradicted => "contradicted",
            Verdict::Undecided => "undecided",
        }
    }
}

/// Verdict of a std-ratio interval on the claimed ratio r₀ (see the module documentation).
pub fn ratio_verdict(interval: &Interval, claimed_ratio: f64) -> Verdict {
    if claimed_ratio < interval.lower || claimed_ratio > interval.upper {
        Verdict::Contradicted
    } else if interval.upper < 1.0 {
        Verdict::Supported
    } else {
        Verdict::Undecided
    }
}

/// Verdict of an interval of the mean on target ± tolerance.
pub fn target_verdict(interval: &Interval, target: f64, tolerance: f64) -> Verdict {
    let (lo, hi) = (target - tolerance, target + tolerance);
    if interval.lower >= lo && interval.upper <= hi {
        Verdict::Supported
    } else if interval.upper < lo || interval.lower > hi {
        Verdict::Contradicted
    } else {
        Verdict::Undecided
    }
}

/// How many seeds per arm would decide an undecided claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedsToDecide {
    Seeds(usize),
    /// More than [`MAX_SEEDS`] (or never, as for a mean on the tolerance band's edge).
    MoreThan(usize),
}

/// One task (setting) and metric of a claim.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimRow {
    pub setting: Setting,
    pub metric: MetricKey,
    /// Done runs of the reference and of the variant (the variant only, for target claims).
    pub n_reference: usize,
    pub n: usize,
    /// σ_v/σ_ref, or the variant's mean.
    pub estimate: Option<f64>,
    pub interval: Option<Interval>,
    pub verdict: Verdict,
    /// Why the verdict is what it is, in words.
    pub reason: String,
    pub not_learned: Vec<NotLearned>,
    /// For undecided rows with an estimate.
    pub seeds_to_decide: Option<SeedsToDecide>,
    /// Why an arm's scores are not normal, when they are not.
    pub not_normal: Option<String>,
    /// ASO of the variant against the reference (oriented so that A = the variant is better
    /// when ε_min is small), given where the scores are not normal.
    pub aso: Option<Aso>,
}

/// The pooled σ ratio over the interpretable tasks of a std-reduction claim.
#[derive(Debug, Clone, Serialize)]
pub struct Pooled {
    pub tasks: Vec<String>,
    pub ratio: f64,
    pub interval: Option<Interval>,
    pub verdict: Verdict,
    pub seeds_to_decide: Option<SeedsToDecide>,
}

/// A claim with its verdicts.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimResult {
    pub claim: ClaimSpec,
    /// One line describing the claim.
    pub statement: String,
    pub against: String,
    pub rows: Vec<ClaimRow>,
    /// For std-reduction claims over two or more interpretable tasks.
    pub pooled: Option<Pooled>,
    pub verdict: Verdict,
    /// The overall verdict in words.
    pub summary: String,
}

/// Settings of the claim computations.
#[derive(Debug, Clone, Copy)]
pub struct ClaimOptions {
    pub bootstrap: Bootstrap,
    pub power: PowerSettings,
    pub bimodality: BimodalitySettings,
    pub aso: AsoSettings,
    pub max_seeds: usize,
}

impl Default for ClaimOptions {
    fn default() -> Self {
        ClaimOptions {
            bootstrap: Bootstrap::default(),
            power: PowerSettings::default(),
            bimodality: BimodalitySettings::default(),
            aso: AsoSettings::default(),
            max_seeds: MAX_SEEDS,
        }
    }
}

/// The spec stored with the experiment, parsed with its overrides as `harness run` loaded it;
/// `Err` says why it could not be read.
pub fn stored_spec(data: &ExperimentData) -> Result<Spec, String> {
    let overrides: Vec<String> = serde_json::from_str(&data.overrides)
        .map_err(|e| format!("the stored overrides are not a JSON list of strings: {e}"))?;
    crate::spec::parse_str(
        &data.spec_text,
        &format!("the stored spec of `{}`", data.name),
        &overrides,
    )
    .map(|l| l.spec)
    .map_err(|e| e.to_string())
}

fn seeds(n: Option<usize>, max: usize) -> SeedsToDecide {
    n.map_or(SeedsToDecide::MoreThan(max), SeedsToDecide::Seeds)
}

/// The metrics of `setting` the claim's selector names.
fn claim_metrics<'a>(
    a: &'a Analysis,
    setting: &Setting,
    selector: &str,
) -> Vec<&'a MetricAnalysis> {
    a.metrics
        .iter()
        .filter(|m| &m.setting == setting)
        .filter(|m| {
            if selector == PRIMARY {
                m.primary
            } else {
                m.metric.matches(selector)
            }
        })
        .collect()
}

/// Why the scores of `values` are not normal, if they are not.
fn not_normal(
    variant: &str,
    values: &[f64],
    degenerate: Option<usize>,
    options: &ClaimOptions,
) -> Option<String> {
    if let Some(d) = degenerate.filter(|&d| d > 0 && d < values.len()) {
        return Some(format!(
            "{variant} mixes {d} degenerate and {} learned runs",
            values.len() - d
        ));
    }
    bimodality_test(values, &options.bimodality)
        .filter(|b| b.rejects_normality)
        .map(|b| {
            format!(
                "{variant} is bimodal (bimodality coefficient {:.3}, Monte Carlo p = {:.3})",
                b.coefficient, b.p_value
            )
        })
}

fn degenerate_of(m: &MetricAnalysis, values: &[f64]) -> Option<usize> {
    m.majority
        .map(|maj| count_degenerate(values, maj, m.direction))
}

fn ratio_reason(verdict: Verdict, interval: &Interval, claimed: f64) -> String {
    match verdict {
        Verdict::Supported => format!(
            "the interval lies below 1 and contains the claimed ratio {claimed:.2}"
        ),
        Verdict::Contradicted if interval.upper < claimed => format!(
            "the interval lies below the claimed ratio {claimed:.2}: the reduction is larger than claimed"
        ),
        Verdict::Contradicted => format!(
            "the interval lies above the claimed ratio {claimed:.2}: the reduction is smaller than claimed{}",
            if interval.lower > 1.0 { " (the spread grows)" } else { "" }
        ),
        Verdict::Undecided => format!(
            "the interval contains both the claimed ratio {claimed:.2} and 1 (no reduction)"
        ),
    }
}

fn target_reason(
    verdict: Verdict,
    interval: &Interval,
    target: f64,
    tol: f64,
    dir: Option<Direction>,
) -> String {
    let band = format!("{target} ± {tol:.4}");
    match verdict {
        Verdict::Supported => format!("the interval lies inside {band}"),
        Verdict::Contradicted => {
            let above = interval.lower > target + tol;
            let better = match dir {
                Some(Direction::Lower) => !above,
                Some(Direction::Higher) => above,
                None => false,
            };
            format!(
                "the interval lies {} {band}{}",
                if above { "above" } else { "below" },
                if dir.is_some() {
                    if better {
                        " (better than claimed)"
                    } else {
                        " (worse than claimed)"
                    }
                } else {
                    ""
                }
            )
        }
        Verdict::Undecided => format!("the interval overlaps the edge of {band}"),
    }
}

fn undecided_row(
    setting: &Setting,
    metric: MetricKey,
    n_reference: usize,
    n: usize,
    reason: String,
) -> ClaimRow {
    ClaimRow {
        setting: setting.clone(),
        metric,
        n_reference,
        n,
        estimate: None,
        interval: None,
        verdict: Verdict::Undecided,
        reason,
        not_learned: Vec::new(),
        seeds_to_decide: None,
        not_normal: None,
        aso: None,
    }
}

fn ratio_row(
    m: &MetricAnalysis,
    claim: &ClaimSpec,
    against: &str,
    r0: f64,
    o: &ClaimOptions,
) -> ClaimRow {
    let empty = Vec::new();
    let v = m
        .variant(&claim.variant)
        .map_or(&empty, |s| &s.sample.values);
    let r = m.variant(against).map_or(&empty, |s| &s.sample.values);
    if v.len() < 2 || r.len() < 2 {
        return undecided_row(
            &m.setting,
            m.metric.clone(),
            r.len(),
            v.len(),
            format!(
                "too few done runs ({against} {}, {} {}; at least 2 per arm)",
                r.len(),
                claim.variant,
                v.len()
            ),
        );
    }
    let (dv, dr) = (degenerate_of(m, v), degenerate_of(m, r));
    let mut not_learned = Vec::new();
    for (name, d, n) in [
        (against, dr, r.len()),
        (claim.variant.as_str(), dv, v.len()),
    ] {
        if has_not_learned(d, n) {
            not_learned.push(NotLearned {
                variant: name.to_string(),
                degenerate: d.unwrap_or(0),
                n,
            });
        }
    }
    let estimate = std_dev(v) / std_dev(r);
    let interval = o.bootstrap.std_ratio_interval(v, r);
    let normality = not_normal(against, r, dr, o).or_else(|| not_normal(&claim.variant, v, dv, o));
    let aso = normality.as_ref().and_then(|_| {
        let orient = |x: &[f64]| -> Vec<f64> {
            match m.direction {
                Some(Direction::Lower) => x.iter().map(|v| -v).collect(),
                _ => x.to_vec(),
            }
        };
        almost_stochastic_order(&orient(v), &orient(r), o.aso)
    });
    let (verdict, reason) = if let Some(text) = not_interpretable(&not_learned, m.direction) {
        (Verdict::Undecided, format!("undecided here: {text}"))
    } else {
        match &interval {
            Some(i) => {
                let verdict = ratio_verdict(i, r0);
                (verdict, ratio_reason(verdict, i, r0))
            }
            None => (Verdict::Undecided, "no bootstrap interval".to_string()),
        }
    };
    let seeds_to_decide = (verdict == Verdict::Undecided && not_learned.is_empty()).then(|| {
        seeds(
            seeds_to_decide_ratio(estimate, r0, &o.power, o.max_seeds),
            o.max_seeds,
        )
    });
    ClaimRow {
        setting: m.setting.clone(),
        metric: m.metric.clone(),
        n_reference: r.len(),
        n: v.len(),
        estimate: Some(estimate),
        interval,
        verdict,
        reason,
        not_learned,
        seeds_to_decide,
        not_normal: normality,
        aso,
    }
}

fn target_row(
    m: &MetricAnalysis,
    claim: &ClaimSpec,
    target: f64,
    tol: f64,
    o: &ClaimOptions,
) -> ClaimRow {
    let empty = Vec::new();
    let v = m
        .variant(&claim.variant)
        .map_or(&empty, |s| &s.sample.values);
    if v.len() < 2 {
        return undecided_row(
            &m.setting,
            m.metric.clone(),
            0,
            v.len(),
            format!(
                "too few done runs ({} {}; at least 2)",
                claim.variant,
                v.len()
            ),
        );
    }
    let dv = degenerate_of(m, v);
    let mut not_learned = Vec::new();
    if has_not_learned(dv, v.len()) {
        not_learned.push(NotLearned {
            variant: claim.variant.clone(),
            degenerate: dv.unwrap_or(0),
            n: v.len(),
        });
    }
    let estimate = mean(v);
    let interval = o.bootstrap.mean_interval(v);
    let (verdict, reason) = if let Some(text) = not_interpretable(&not_learned, m.direction) {
        (Verdict::Undecided, format!("undecided here: {text}"))
    } else {
        match &interval {
            Some(i) => {
                let verdict = target_verdict(i, target, tol);
                (verdict, target_reason(verdict, i, target, tol, m.direction))
            }
            None => (Verdict::Undecided, "no bootstrap interval".to_string()),
        }
    };
    let seeds_to_decide = (verdict == Verdict::Undecided && not_learned.is_empty()).then(|| {
        let problem = TargetProblem {
            mean: estimate,
            std: std_dev(v),
            target,
            tolerance: tol,
            level: o.bootstrap.level,
        };
        seeds(
            seeds_to_decide_target(&problem, &o.power, o.max_seeds),
            o.max_seeds,
        )
    });
    ClaimRow {
        setting: m.setting.clone(),
        metric: m.metric.clone(),
        n_reference: 0,
        n: v.len(),
        estimate: Some(estimate),
        interval,
        verdict,
        reason,
        not_learned,
        seeds_to_decide,
        not_normal: not_normal(&claim.variant, v, dv, o),
        aso: None,
    }
}

/// The verdicts on every claim of `spec` from the statistics `a` of its experiment.
pub fn evaluate(a: &Analysis, spec: &Spec, options: &ClaimOptions) -> Vec<ClaimResult> {
    spec.claims
        .iter()
        .map(|claim| evaluate_one(a, spec, claim, options))
        .collect()
}

fn evaluate_one(a: &Analysis, spec: &Spec, claim: &ClaimSpec, o: &ClaimOptions) -> ClaimResult {
    let against = claim.against(spec).to_string();
    let mut rows = Vec::new();
    for task in claim.task_names(spec) {
        let settings: Vec<&Setting> = a.settings.iter().filter(|s| s.task == task).collect();
        let metric_label = if claim.metric == PRIMARY {
            crate::analysis::primary_metric(&task)
                .unwrap_or(PRIMARY)
                .to_string()
        } else {
            claim.metric.clone()
        };
        let missing = |setting: Setting| {
            let key = match metric_label.split_once('/') {
                Some((split, name)) => MetricKey::new(split, name),
                None => MetricKey::new("dev", &metric_label),
            };
            undecided_row(&setting, key, 0, 0, "no done runs with this metric".into())
        };
        if settings.is_empty() {
            rows.push(missing(Setting {
                task: task.clone(),
                sweep: String::new(),
            }));
        }
        for setting in settings {
            let metrics = claim_metrics(a, setting, &claim.metric);
            if metrics.is_empty() {
                rows.push(missing(setting.clone()));
            }
            for m in metrics {
                rows.push(match claim.claimed() {
                    Claimed::StdReduction(r) => ratio_row(m, claim, &against, 1.0 - r, o),
                    Claimed::Target { value, tolerance } => {
                        target_row(m, claim, value, tolerance, o)
                    }
                });
            }
        }
    }
    let (pooled, verdict, summary) = match claim.claimed() {
        Claimed::StdReduction(r) => pooled_verdict(a, claim, &against, &rows, 1.0 - r, o),
        Claimed::Target { .. } => target_summary(&rows),
    };
    ClaimResult {
        claim: claim.clone(),
        statement: claim.describe(spec),
        against,
        rows,
        pooled,
        verdict,
        summary,
    }
}

fn row_label(r: &ClaimRow) -> String {
    format!("{} {}", r.setting.label(), r.metric.label())
}

fn undecided_note(rows: &[&ClaimRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let list: Vec<String> = rows
        .iter()
        .map(|r| {
            if r.not_learned.is_empty() {
                format!("{} ({})", row_label(r), r.reason)
            } else {
                format!("{} (not learned)", row_label(r))
            }
        })
        .collect();
    format!("; undecided on {}", list.join(", "))
}

fn pooled_verdict(
    a: &Analysis,
    claim: &ClaimSpec,
    against: &str,
    rows: &[ClaimRow],
    r0: f64,
    o: &ClaimOptions,
) -> (Option<Pooled>, Verdict, String) {
    let usable: Vec<&ClaimRow> = rows
        .iter()
        .filter(|r| r.not_learned.is_empty() && r.interval.is_some())
        .collect();
    let excluded: Vec<&ClaimRow> = rows
        .iter()
        .filter(|r| !(r.not_learned.is_empty() && r.interval.is_some()))
        .collect();
    let note = undecided_note(&excluded);
    match usable.as_slice() {
        [] => (
            None,
            Verdict::Undecided,
            format!("no task has an interpretable comparison{note}"),
        ),
        [one] => (
            None,
            one.verdict,
            format!("on {}: {}{note}", row_label(one), one.reason),
        ),
        many => {
            let samples: Vec<(&[f64], &[f64])> = many
                .iter()
                .filter_map(|r| {
                    let m = a.metric(&r.setting, &r.metric)?;
                    Some((
                        m.variant(&claim.variant)?.sample.values.as_slice(),
                        m.variant(against)?.sample.values.as_slice(),
                    ))
                })
                .collect();
            let strata: Vec<Stratum> = samples
                .iter()
                .map(|(v, r)| Stratum {
                    variant: v,
                    reference: r,
                })
                .collect();
            let ratio = pooled_std_ratio(&strata).unwrap_or(f64::NAN);
            let interval = pooled_std_ratio_interval(&o.bootstrap, &strata);
            let verdict = interval.map_or(Verdict::Undecided, |i| ratio_verdict(&i, r0));
            let reason =
                interval.map_or("no interval".to_string(), |i| ratio_reason(verdict, &i, r0));
            let seeds_to_decide = (verdict == Verdict::Undecided).then(|| {
                seeds(
                    seeds_to_decide_ratio(ratio, r0, &o.power, o.max_seeds),
                    o.max_seeds,
                )
            });
            let tasks: Vec<String> = many.iter().map(|r| row_label(r)).collect();
            let summary = format!("pooled σ ratio over {}: {reason}{note}", tasks.join(", "));
            (
                Some(Pooled {
                    tasks,
                    ratio,
                    interval,
                    verdict,
                    seeds_to_decide,
                }),
                verdict,
                summary,
            )
        }
    }
}

fn target_summary(rows: &[ClaimRow]) -> (Option<Pooled>, Verdict, String) {
    let decided: Vec<&ClaimRow> = rows
        .iter()
        .filter(|r| r.verdict != Verdict::Undecided)
        .collect();
    let undecided: Vec<&ClaimRow> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Undecided)
        .collect();
    let verdict = if rows.iter().any(|r| r.verdict == Verdict::Contradicted) {
        Verdict::Contradicted
    } else if !rows.is_empty() && undecided.is_empty() {
        Verdict::Supported
    } else {
        Verdict::Undecided
    };
    let parts: Vec<String> = decided
        .iter()
        .map(|r| format!("{} on {}: {}", r.verdict.as_str(), row_label(r), r.reason))
        .collect();
    let note = undecided_note(&undecided);
    let summary = if parts.is_empty() {
        note.trim_start_matches("; ").to_string()
    } else {
        format!("{}{note}", parts.join("; "))
    };
    (None, verdict, summary)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::{analyse, Options};
    use crate::stats::distributions::normal_quantile;
    use crate::store::Store;
    use crate::synthetic::{write_experiment_with_spec, SyntheticRun};

    fn interval(lower: f64, upper: f64) -> Interval {
        Interval {
            lower,
            upper,
            level: 0.95,
            resamples: 1000,
        }
    }

    #[test]
    fn verdicts_of_intervals() {
        // Claimed ratio 0.7 (a 30% reduction).
        assert_eq!(ratio_verdict(&interval(0.5, 0.9), 0.7), Verdict::Supported);
        assert_eq!(ratio_verdict(&interval(0.5, 1.3), 0.7), Verdict::Undecided);
        assert_eq!(
            ratio_verdict(&interval(0.8, 1.3), 0.7),
            Verdict::Contradicted
        );
        assert_eq!(
            ratio_verdict(&interval(0.2, 0.6), 0.7),
            Verdict::Contradicted
        );
        assert_eq!(ratio_verdict(&interval(0.7, 0.99), 0.7), Verdict::Supported);
        assert_eq!(ratio_verdict(&interval(0.6, 1.0), 0.7), Verdict::Undecided);
        assert!(
            ratio_reason(Verdict::Contradicted, &interval(0.2, 0.6), 0.7)
                .contains("larger than claimed")
        );
        assert!(
            ratio_reason(Verdict::Contradicted, &interval(1.1, 1.6), 0.7)
                .contains("(the spread grows)")
        );
        // Target 1.033 ± 0.01.
        assert_eq!(
            target_verdict(&interval(1.03, 1.04), 1.033, 0.01),
            Verdict::Supported
        );
        assert_eq!(
            target_verdict(&interval(1.03, 1.05), 1.033, 0.01),
            Verdict::Undecided
        );
        assert_eq!(
            target_verdict(&interval(1.05, 1.07), 1.033, 0.01),
            Verdict::Contradicted
        );
        assert_eq!(
            target_verdict(&interval(0.9, 1.0), 1.033, 0.01),
            Verdict::Contradicted
        );
        let worse = target_reason(
            Verdict::Contradicted,
            &interval(1.05, 1.07),
            1.033,
            0.01,
            Some(Direction::Lower),
        );
        assert!(worse.ends_with("(worse than claimed)"), "{worse}");
    }

    pub(crate) const SPEC: &str = "\
name: claims
seeds: {count: 60, base: 1}
model: {kind: bert, pretrained: data/models/m}
tasks: [rte, mrpc, cola]
baseline: baseline
variants:
  baseline: {}
  cross_head: {cross_head: {prob: 0.1}}
claims:
  - {variant: cross_head, std_reduction: 0.3, tasks: [rte], source: paper}
  - {variant: cross_head, std_reduction: 0.3, tasks: [mrpc]}
  - {variant: cross_head, std_reduction: 0.3, tasks: [rte, mrpc, cola]}
  - {variant: cross_head, metric: acc, target: 0.75, tolerance: 0.02, tasks: [rte]}
  - {variant: cross_head, metric: acc, target: 0.80, tolerance: 0.02, tasks: [rte]}
";

    /// Standard-normal scores at the quantiles (i + 1/2)/n: a sample whose std is known.
    fn z(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| normal_quantile((i as f64 + 0.5) / n as f64))
            .collect()
    }

    /// rte (acc): 60 seeds per arm, cross_head's spread exactly 0.7 of the baseline's, means
    /// 0.70 and 0.75. mrpc (f1): the same spread in both arms. cola (mcc): the baseline mostly
    /// at the majority-class MCC 0 (4 of 5 runs), cross_head learned; 5 seeds.
    pub(crate) fn runs() -> Vec<SyntheticRun> {
        let z60 = z(60);
        let mut out = Vec::new();
        for (i, zi) in z60.iter().enumerate() {
            let seed = i as u64 + 1;
            // Reverse order for cross_head so the two arms are not in lockstep.
            let zr = z60[59 - i];
            out.push(SyntheticRun::done(
                "rte",
                "baseline",
                seed,
                &[("acc", 0.70 + 0.05 * zi)],
            ));
            out.push(SyntheticRun::done(
                "rte",
                "cross_head",
                seed,
                &[("acc", 0.75 + 0.035 * zr)],
            ));
            out.push(SyntheticRun::done(
                "mrpc",
                "baseline",
                seed,
                &[("f1", 0.85 + 0.02 * zi)],
            ));
            out.push(SyntheticRun::done(
                "mrpc",
                "cross_head",
                seed,
                &[("f1", 0.86 + 0.02 * zr)],
            ));
        }
        for (i, (b, c)) in [
            (0.0, 0.31),
            (0.0, 0.35),
            (0.0, 0.28),
            (0.22, 0.33),
            (0.0, 0.30),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = SyntheticRun::done("cola", "baseline", i as u64 + 1, &[("mcc", b)]);
            r.results.push(("dev".into(), "majority_mcc".into(), 0.0));
            out.push(r);
            out.push(SyntheticRun::done(
                "cola",
                "cross_head",
                i as u64 + 1,
                &[("mcc", c)],
            ));
        }
        out
    }

    pub(crate) fn store_with(
        spec: &str,
        runs: &[SyntheticRun],
    ) -> (ExperimentData, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let data = rt.block_on(async {
            let store = Store::open(&dir.path().join("h.db")).await.unwrap();
            write_experiment_with_spec(&store, "claims", "baseline", None, spec, runs)
                .await
                .unwrap();
            let d = ExperimentData::load(&store, "claims", true).await.unwrap();
            store.close().await;
            d
        });
        (data, dir)
    }

    #[test]
    fn verdicts_on_synthetic_results() {
        let (data, _dir) = store_with(SPEC, &runs());
        let spec = stored_spec(&data).unwrap();
        let a = analyse(&data, &Options::default());
        let o = ClaimOptions::default();
        let r = evaluate(&a, &spec, &o);
        assert_eq!(r.len(), 5);

        // rte: σ ratio exactly 0.7 with 60 seeds per arm: the interval is below 1 and holds 0.7.
        let rte = &r[0];
        assert_eq!(rte.rows.len(), 1);
        let row = &rte.rows[0];
        assert_eq!(row.metric.label(), "acc");
        assert!((row.estimate.unwrap() - 0.7).abs() < 1e-12);
        let i = row.interval.unwrap();
        assert!(i.lower < 0.7 && i.upper < 1.0, "{i:?}");
        assert_eq!(rte.verdict, Verdict::Supported, "{}", rte.summary);
        assert_eq!(row.seeds_to_decide, None);
        assert_eq!(row.not_normal, None);
        assert!(rte.statement.ends_with("on rte (paper)"));

        // mrpc: equal spread, 60 seeds per arm: the interval excludes 0.7.
        let mrpc = &r[1];
        assert!((mrpc.rows[0].estimate.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(mrpc.rows[0].metric.label(), "f1");
        assert_eq!(mrpc.verdict, Verdict::Contradicted, "{}", mrpc.summary);
        assert!(
            mrpc.summary.contains("smaller than claimed"),
            "{}",
            mrpc.summary
        );

        // Three tasks: cola's baseline has not learned, so it is left out of the pooled ratio,
        // which is the geometric mean √(0.7 · 1.0) over rte and mrpc.
        let all = &r[2];
        assert_eq!(all.rows.len(), 3);
        let cola = &all.rows[2];
        assert_eq!(cola.verdict, Verdict::Undecided);
        assert_eq!(
            cola.reason,
            "undecided here: not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class)"
        );
        assert_eq!(cola.seeds_to_decide, None);
        let pooled = all.pooled.as_ref().unwrap();
        assert_eq!(pooled.tasks, ["rte acc", "mrpc f1"]);
        assert!((pooled.ratio - 0.7f64.sqrt()).abs() < 1e-12);
        let pi = pooled.interval.unwrap();
        assert!(pi.lower < pooled.ratio && pooled.ratio < pi.upper);
        assert_eq!(all.verdict, ratio_verdict(&pi, 0.7));
        assert!(
            all.summary
                .ends_with("; undecided on cola mcc (not learned)"),
            "{}",
            all.summary
        );
        // The baseline mixes degenerate and learned runs: not normal, so ASO is given too.
        assert_eq!(
            cola.not_normal.as_deref(),
            Some("baseline mixes 4 degenerate and 1 learned runs")
        );
        let aso = cola.aso.unwrap();
        assert!(aso.epsilon_min < 0.2, "{aso:?}"); // cross_head's MCC is higher on every seed

        // Target claims on rte's cross_head mean 0.75 (60 seeds, std 0.035): 0.75 ± 0.02 holds the
        // whole interval; 0.80 ± 0.02 lies above it.
        assert_eq!(r[3].verdict, Verdict::Supported, "{}", r[3].summary);
        assert!((r[3].rows[0].estimate.unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(r[4].verdict, Verdict::Contradicted, "{}", r[4].summary);
        assert!(
            r[4].summary
                .contains("below 0.8 ± 0.0200 (worse than claimed)"),
            "{}",
            r[4].summary
        );
    }

    /// Few seeds: the interval holds both 0.7 and 1, and the answer is how many seeds would decide.
    #[test]
    fn undecided_with_few_seeds_says_how_many_would_decide() {
        let few: Vec<SyntheticRun> = runs()
            .into_iter()
            .filter(|r| r.task == "rte" && r.seed <= 6)
            .collect();
        let (data, _dir) = store_with(SPEC, &few);
        let spec = stored_spec(&data).unwrap();
        let a = analyse(&data, &Options::default());
        let o = ClaimOptions::default();
        let r = evaluate(&a, &spec, &o);
        let row = &r[0].rows[0];
        assert_eq!((row.n_reference, row.n), (6, 6));
        assert_eq!(row.verdict, Verdict::Undecided, "{:?}", row.interval);
        let observed = row.estimate.unwrap();
        assert_eq!(
            row.seeds_to_decide,
            Some(seeds(
                seeds_to_decide_ratio(observed, 0.7, &o.power, MAX_SEEDS),
                MAX_SEEDS
            ))
        );
        // mrpc and cola have no runs: undecided, and said so.
        let mrpc = &r[1];
        assert_eq!(mrpc.verdict, Verdict::Undecided);
        assert_eq!(mrpc.rows[0].reason, "no done runs with this metric");
        assert!(mrpc
            .summary
            .starts_with("no task has an interpretable comparison"));
    }

    #[test]
    fn an_unreadable_stored_spec_is_said() {
        let (data, _dir) = store_with("name: claims\n", &runs()[..4]);
        let e = stored_spec(&data).unwrap_err();
        assert!(e.contains("the stored spec of `claims`"), "{e}");
    }
}
