//! Claims a spec tests: statements from a paper that the experiment's results support,
//! contradict or leave undecided (the verdicts are computed by `analysis::claims`).
//!
//! ```yaml
//! claims:
//!   - variant: cross_head          # the variant the claim is about
//!     std_reduction: 0.30          # its std across seeds is 30% below the baseline's
//!     metric: primary              # each task's primary metric (default), or `acc`, `test/bpc`
//!     tasks: [rte, mrpc, cola, stsb]   # default: every task of the spec
//!     against: baseline            # default: the spec's baseline
//!     source: "arXiv 2311.08123"
//!   - {variant: two_phase, metric: test/bpc, target: 1.033, tolerance: 0.01, tasks: [enwik8]}
//! ```
//! A claim states exactly one of `std_reduction` (in (0, 1)) and `target` (the variant's mean;
//! `tolerance`, default 1% of |target|, is how far from it still counts as the claimed value).
//! Claims are never part of a run's key: they say how results are read, not how runs train.

use serde::{Deserialize, Serialize};

use super::locate::FieldPath;
use super::types::{Spec, Task};
use super::validate::Issue;

/// The metric selector meaning "each task's primary metric".
pub const PRIMARY: &str = "primary";

/// Default tolerance of a target claim, relative to |target|.
pub const DEFAULT_RELATIVE_TOLERANCE: f64 = 0.01;

/// One claim of the spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSpec {
    /// The variant the claim is about.
    pub variant: String,
    /// The variant it is compared against [default: the spec's baseline].
    #[serde(default)]
    pub against: Option<String>,
    /// `primary` (each task's primary metric), a metric name (`acc`) or `split/name`.
    #[serde(default = "primary")]
    pub metric: String,
    /// Claimed relative std reduction (σ_against − σ_variant)/σ_against, in (0, 1).
    #[serde(default)]
    pub std_reduction: Option<f64>,
    /// Claimed mean of the variant's metric.
    #[serde(default)]
    pub target: Option<f64>,
    /// Distance from `target` that still counts as the claimed value.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// The tasks the claim covers [default: every task of the spec].
    #[serde(default)]
    pub tasks: Option<Vec<Task>>,
    /// Where the claim comes from (free text).
    #[serde(default)]
    pub source: Option<String>,
}

fn primary() -> String {
    PRIMARY.to_string()
}

/// What a claim states.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Claimed {
    /// σ_variant / σ_against = 1 − reduction.
    StdReduction(f64),
    /// The variant's mean lies within `tolerance` of `value`.
    Target { value: f64, tolerance: f64 },
}

impl ClaimSpec {
    /// What the claim states (validated specs have exactly one of the two).
    pub fn claimed(&self) -> Claimed {
        match (self.std_reduction, self.target) {
            (Some(r), _) => Claimed::StdReduction(r),
            (None, Some(t)) => Claimed::Target {
                value: t,
                tolerance: self
                    .tolerance
                    .unwrap_or(DEFAULT_RELATIVE_TOLERANCE * t.abs()),
            },
            (None, None) => Claimed::StdReduction(f64::NAN),
        }
    }

    /// The variant compared against.
    pub fn against<'a>(&'a self, spec: &'a Spec) -> &'a str {
        self.against.as_deref().unwrap_or(&spec.baseline)
    }

    /// The tasks covered, in the claim's order (the spec's when none are named).
    pub fn task_names(&self, spec: &Spec) -> Vec<String> {
        self.tasks
            .as_ref()
            .unwrap_or(&spec.tasks)
            .iter()
            .map(|t| t.as_str().to_string())
            .collect()
    }

    /// One line: "cross_head reduces the std of primary by 30% against baseline (arXiv …)".
    pub fn describe(&self, spec: &Spec) -> String {
        let metric = if self.metric == PRIMARY {
            "each task's primary metric".to_string()
        } else {
            format!("`{}`", self.metric)
        };
        let what = match self.claimed() {
            Claimed::StdReduction(r) => format!(
                "`{}` reduces the std across seeds of {metric} by {:.0}% against `{}`",
                self.variant,
                100.0 * r,
                self.against(spec)
            ),
            Claimed::Target { value, tolerance } => format!(
                "`{}` reaches a mean {metric} of {value} (± {tolerance:.4})",
                self.variant
            ),
        };
        let source = self
            .source
            .as_ref()
            .map_or(String::new(), |s| format!(" ({s})"));
        format!("{what} on {}{source}", self.task_names(spec).join(", "))
    }
}

fn metric_ok(selector: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    match selector.split_once('/') {
        Some((split, name)) => part(split) && part(name),
        None => part(selector),
    }
}

/// Checks the claims of `spec` (names that must exist, ranges); the first problem in order.
pub fn check_claims(spec: &Spec) -> Result<(), Issue> {
    let root = FieldPath::of(&["claims"]);
    let variants: Vec<&str> = spec.variants.names().collect();
    for (i, claim) in spec.claims.iter().enumerate() {
        let at = root.index(i);
        let variant_exists = |field: &str, name: &str| {
            if variants.contains(&name) {
                Ok(())
            } else {
                Err(Issue::value(
                    at.key(field),
                    format!(
                        "`{name}` is not one of the spec's variants; variants: {}",
                        variants.join(", ")
                    ),
                ))
            }
        };
        variant_exists("variant", &claim.variant)?;
        if let Some(against) = &claim.against {
            variant_exists("against", against)?;
        }
        if !metric_ok(&claim.metric) {
            return Err(Issue::value(
                at.key("metric"),
                format!(
                    "must be `primary`, a metric name (`acc`) or `split/name` (`test/bpc`) in lowercase letters, digits and `_`, got `{}`",
                    claim.metric
                ),
            ));
        }
        match (claim.std_reduction, claim.target) {
            (None, None) => {
                return Err(Issue::value(
                    at,
                    "a claim states either `std_reduction` (in (0, 1)) or `target` (the variant's mean)",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(Issue::key(
                    at.key("target"),
                    "a claim states `std_reduction` or `target`, not both; write two claims",
                ))
            }
            (Some(r), None) => {
                if !(r > 0.0 && r < 1.0) {
                    return Err(Issue::value(
                        at.key("std_reduction"),
                        format!("must lie in (0, 1) (0.3 for a 30% reduction), got {r}"),
                    ));
                }
                if claim.tolerance.is_some() {
                    return Err(Issue::key(
                        at.key("tolerance"),
                        "`tolerance` goes with `target`; a std-reduction claim has none",
                    ));
                }
                if claim.variant == claim.against(spec) {
                    return Err(Issue::value(
                        at.key("variant"),
                        format!(
                            "the claim compares `{}` with itself; name another variant or set `against`",
                            claim.variant
                        ),
                    ));
                }
            }
            (None, Some(t)) => {
                if !t.is_finite() {
                    return Err(Issue::value(
                        at.key("target"),
                        format!("must be a finite number, got {t}"),
                    ));
                }
                if let Some(tol) = claim.tolerance.filter(|tol| !(tol.is_finite() && *tol > 0.0))
                {
                    return Err(Issue::value(
                        at.key("tolerance"),
                        format!("must be a positive number, got {tol}"),
                    ));
                }
            }
        }
        if let Some(tasks) = &claim.tasks {
            if tasks.is_empty() {
                return Err(Issue::value(
                    at.key("tasks"),
                    "must list at least one task (or be left out for every task of the spec)",
                ));
            }
            for (j, task) in tasks.iter().enumerate() {
                if !spec.tasks.contains(task) {
                    let names: Vec<_> = spec.tasks.iter().map(|t| t.as_str()).collect();
                    return Err(Issue::value(
                        at.key("tasks").index(j),
                        format!(
                            "`{task}` is not one of the spec's tasks; tasks: {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{expand, parse_str, SpecError};
    use super::*;

    const SPEC: &str = "\
name: quick
seeds: {count: 2, base: 1}
model: {kind: bert, pretrained: data/models/m}
tasks: [spam, kjv_next]
baseline: baseline
variants:
  baseline: {}
  cross_head: {cross_head: {prob: 0.1}}
";

    fn with_claims(claims: &str) -> String {
        format!("{SPEC}claims:\n{claims}")
    }

    fn err(text: &str) -> SpecError {
        match parse_str(text, "x.yaml", &[]) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        }
    }

    #[track_caller]
    fn assert_err(claims: &str, line: usize, column: usize, field: &str, message: &str) {
        let e = err(&with_claims(claims));
        assert_eq!(
            (e.line, e.column, e.field.as_str(), e.message.as_str()),
            (Some(line), Some(column), field, message),
            "{e}"
        );
    }

    #[test]
    fn claims_load_with_defaults() {
        let text = with_claims(
            "  - {variant: cross_head, std_reduction: 0.3, source: arXiv 2311.08123}\n  - {variant: cross_head, metric: dev/acc, target: 0.9, tasks: [spam]}\n",
        );
        let spec = parse_str(&text, "x.yaml", &[]).unwrap().spec;
        assert_eq!(spec.claims.len(), 2);
        let c = &spec.claims[0];
        assert_eq!(c.metric, PRIMARY);
        assert_eq!(c.against(&spec), "baseline");
        assert_eq!(c.task_names(&spec), ["spam", "kjv_next"]);
        assert_eq!(c.claimed(), Claimed::StdReduction(0.3));
        assert_eq!(
            c.describe(&spec),
            "`cross_head` reduces the std across seeds of each task's primary metric by 30% against `baseline` on spam, kjv_next (arXiv 2311.08123)"
        );
        let t = &spec.claims[1];
        assert_eq!(t.task_names(&spec), ["spam"]);
        match t.claimed() {
            Claimed::Target { value, tolerance } => {
                assert_eq!(value, 0.9);
                assert!((tolerance - 0.009).abs() < 1e-15);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn claim_errors_are_located() {
        // Line 10 is the first claim (9 spec lines before `claims:`).
        assert_err(
            "  - {variant: cross, std_reduction: 0.3}\n",
            10,
            15,
            "claims[0].variant",
            "`cross` is not one of the spec's variants; variants: baseline, cross_head",
        );
        assert_err(
            "  - {variant: cross_head, std_reduction: 1.3}\n",
            10,
            42,
            "claims[0].std_reduction",
            "must lie in (0, 1) (0.3 for a 30% reduction), got 1.3",
        );
        assert_err(
            "  - {variant: cross_head, std_reduction: 0}\n",
            10,
            42,
            "claims[0].std_reduction",
            "must lie in (0, 1) (0.3 for a 30% reduction), got 0",
        );
        assert_err(
            "  - variant: cross_head\n    std_reduction: 0.3\n    tasks: [spam, rte]\n",
            12,
            19,
            "claims[0].tasks[1]",
            "`rte` is not one of the spec's tasks; tasks: spam, kjv_next",
        );
        assert_err(
            "  - {variant: baseline, std_reduction: 0.3}\n",
            10,
            15,
            "claims[0].variant",
            "the claim compares `baseline` with itself; name another variant or set `against`",
        );
        assert_err(
            "  - {variant: cross_head, target: 0.9, std_reduction: 0.3}\n",
            10,
            27,
            "claims[0].target",
            "a claim states `std_reduction` or `target`, not both; write two claims",
        );
        assert_err(
            "  - {variant: cross_head}\n",
            10,
            5,
            "claims[0]",
            "a claim states either `std_reduction` (in (0, 1)) or `target` (the variant's mean)",
        );
        assert_err(
            "  - {variant: cross_head, target: 0.9, tolerance: -1}\n",
            10,
            51,
            "claims[0].tolerance",
            "must be a positive number, got -1",
        );
        assert_err(
            "  - {variant: cross_head, metric: Acc, target: 0.9}\n",
            10,
            35,
            "claims[0].metric",
            "must be `primary`, a metric name (`acc`) or `split/name` (`test/bpc`) in lowercase letters, digits and `_`, got `Acc`",
        );
        // Unknown fields and unknown tasks: serde's errors, located like the rest of the spec.
        let e = err(&with_claims(
            "  - {variant: cross_head, std_reduction: 0.3, reduction: 0.3}\n",
        ));
        assert_eq!((e.line, e.column), (Some(10), Some(47)), "{e}");
        assert!(e.message.contains("unknown field `reduction`"), "{e}");
        assert!(e.message.contains("std_reduction"), "{e}");
        let e = err(&with_claims(
            "  - {variant: cross_head, std_reduction: 0.3, tasks: [spma]}\n",
        ));
        assert_eq!(e.line, Some(10), "{e}");
        assert!(e.message.contains("unknown task `spma`"), "{e}");
    }

    #[test]
    fn claims_set_by_override_are_validated() {
        let e = parse_str(
            &with_claims("  - {variant: cross_head, std_reduction: 0.3}\n"),
            "x.yaml",
            &["claims[0].std_reduction=2".to_string()],
        )
        .unwrap_err();
        assert_eq!(e.origin, "--set claims[0].std_reduction=2", "{e}");
        assert_eq!(e.field, "claims[0].std_reduction");
    }

    /// Claims say how results are read, not how runs train: adding or changing them keeps every
    /// run's key.
    #[test]
    fn claims_leave_run_keys_unchanged() {
        let keys = |text: &str| -> Vec<String> {
            expand(&parse_str(text, "x.yaml", &[]).unwrap().spec)
                .into_iter()
                .map(|p| p.key)
                .collect()
        };
        let without = keys(SPEC);
        assert_eq!(without.len(), 8);
        let with = keys(&with_claims(
            "  - {variant: cross_head, std_reduction: 0.3, tasks: [spam], source: paper}\n  - {variant: baseline, target: 0.8, tolerance: 0.05}\n",
        ));
        assert_eq!(without, with);
    }
}
