//! Tolerances and verdicts of `harness check` (pure arithmetic, no I/O).
//!
//! A tolerance has up to three parts; the allowed difference is the largest of those given:
//! - `abs: a`: |actual − expected| ≤ a;
//! - `rel: r`: |actual − expected| ≤ r · |expected|;
//! - `std_errors: k`: |actual − expected| ≤ k · SE, for the mean of a group of seeds, where
//!   SE = s · sqrt(1/n_expected + 1/n_actual) is the standard error of the difference of two means
//!   with the recorded standard deviation s as the common spread (Welch's SE with both spreads
//!   set to the reference one, so a change that widens the spread does not widen its own
//!   tolerance).
//!
//! `abs: 0` demands equality to the last bit.

use crate::analysis::Direction;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How far a value may move from its expected value. At least one part is set.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Absolute: |actual − expected| ≤ abs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs: Option<f64>,
    /// Relative to the expected value: |actual − expected| ≤ rel · |expected|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<f64>,
    /// Standard errors of the difference of two means (group means only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_errors: Option<f64>,
}

/// Why a tolerance cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToleranceError {
    #[error("a tolerance needs at least one of `abs`, `rel`, `std_errors`")]
    Empty,
    #[error("`{0}` must be a finite number >= 0, got {1}")]
    Negative(&'static str, f64),
    #[error("`std_errors` applies only to the mean of a group of seeds; use `abs` or `rel` here")]
    StdErrorsNotAllowed,
    #[error(
        "`std_errors` needs the expected `std` (finite, >= 0) and `n` >= 2 of the group; \
         record them with --update or use `abs` or `rel`"
    )]
    NoStandardError,
}

impl Tolerance {
    /// Exact: no difference allowed.
    pub const EXACT: Tolerance = Tolerance {
        abs: Some(0.0),
        rel: None,
        std_errors: None,
    };

    pub fn absolute(a: f64) -> Tolerance {
        Tolerance {
            abs: Some(a),
            ..Tolerance::default()
        }
    }

    pub fn relative(r: f64) -> Tolerance {
        Tolerance {
            rel: Some(r),
            ..Tolerance::default()
        }
    }

    pub fn standard_errors(k: f64) -> Tolerance {
        Tolerance {
            std_errors: Some(k),
            ..Tolerance::default()
        }
    }

    /// Checks that the tolerance is usable; `std_errors_allowed` is true for group means only.
    pub fn validate(&self, std_errors_allowed: bool) -> Result<(), ToleranceError> {
        if self.abs.is_none() && self.rel.is_none() && self.std_errors.is_none() {
            return Err(ToleranceError::Empty);
        }
        for (name, v) in [
            ("abs", self.abs),
            ("rel", self.rel),
            ("std_errors", self.std_errors),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(ToleranceError::Negative(name, v));
                }
            }
        }
        if self.std_errors.is_some() && !std_errors_allowed {
            return Err(ToleranceError::StdErrorsNotAllowed);
        }
        Ok(())
    }

    /// The largest allowed |actual − expected|. `se` is the standard error of the difference
    /// (see [`standard_error`]); a tolerance made only of `std_errors` needs it.
    pub fn allowed(&self, expected: f64, se: Option<f64>) -> Result<f64, ToleranceError> {
        let mut parts = Vec::with_capacity(3);
        if let Some(a) = self.abs {
            parts.push(a);
        }
        if let Some(r) = self.rel {
            parts.push(r * expected.abs());
        }
        if let Some(k) = self.std_errors {
            match se {
                Some(se) if se.is_finite() => parts.push(k * se),
                _ if parts.is_empty() => return Err(ToleranceError::NoStandardError),
                _ => {}
            }
        }
        parts
            .into_iter()
            .reduce(f64::max)
            .ok_or(ToleranceError::Empty)
    }
}

impl fmt::Display for Tolerance {
    /// `abs 1e-9`, `rel 0.01`, `3 SE`, joined with ` | ` when several are given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(a) = self.abs {
            parts.push(if a == 0.0 {
                "exact".to_string()
            } else {
                format!("abs {}", number(a))
            });
        }
        if let Some(r) = self.rel {
            parts.push(format!("rel {}", number(r)));
        }
        if let Some(k) = self.std_errors {
            parts.push(format!("{} SE", number(k)));
        }
        f.write_str(&parts.join(" | "))
    }
}

/// A number as written in the expected file: integers without a fraction (`3`), everything else
/// in Rust's shortest round-trip form (`0.01`, `1e-9`, `0.6931471805599453`).
pub fn number(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:?}")
    }
}

/// Standard error of the difference between a recorded mean (spread `std`, `n_expected` seeds)
/// and a current mean over `n_actual` seeds: std · sqrt(1/n_expected + 1/n_actual). `None` when
/// `std` is not finite or either count is zero.
pub fn standard_error(std: f64, n_expected: usize, n_actual: usize) -> Option<f64> {
    if !std.is_finite() || std < 0.0 || n_expected == 0 || n_actual == 0 {
        return None;
    }
    Some(std * (1.0 / n_expected as f64 + 1.0 / n_actual as f64).sqrt())
}

/// The outcome of comparing one value with its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within tolerance.
    Pass,
    /// Beyond tolerance, in the metric's better direction.
    Better,
    /// Beyond tolerance, in the metric's worse direction (or not a finite number).
    Worse,
    /// Beyond tolerance, for a metric whose better direction is not known.
    Changed,
    /// Expected but absent: the run is missing or not done, or it has no such metric.
    #[default]
    Missing,
}

impl Verdict {
    /// Every verdict, in the order the outputs list them.
    pub const ALL: [Verdict; 5] = [
        Verdict::Pass,
        Verdict::Worse,
        Verdict::Better,
        Verdict::Changed,
        Verdict::Missing,
    ];

    /// Whether this verdict fails the check (`better` only unless `allow_better`).
    pub fn fails(self, allow_better: bool) -> bool {
        match self {
            Verdict::Pass => false,
            Verdict::Better => !allow_better,
            Verdict::Worse | Verdict::Changed | Verdict::Missing => true,
        }
    }
}

/// Compares `actual` with `expected` given the allowed difference and the metric's direction.
/// A non-finite actual value is `Worse`.
pub fn judge(expected: f64, actual: f64, allowed: f64, direction: Option<Direction>) -> Verdict {
    if !actual.is_finite() {
        return Verdict::Worse;
    }
    let diff = actual - expected;
    if diff.abs() <= allowed {
        return Verdict::Pass;
    }
    match direction {
        Some(Direction::Higher) if diff > 0.0 => Verdict::Better,
        Some(Direction::Lower) if diff < 0.0 => Verdict::Better,
        Some(_) => Verdict::Worse,
        None => Verdict::Changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_relative_and_the_largest_part() {
        assert_eq!(Tolerance::absolute(0.01).allowed(0.8, None), Ok(0.01));
        // rel is relative to |expected|: 5% of -2.0.
        assert_eq!(Tolerance::relative(0.05).allowed(-2.0, None), Ok(0.1));
        let both = Tolerance {
            abs: Some(1e-3),
            rel: Some(1e-2),
            std_errors: None,
        };
        assert_eq!(both.allowed(0.5, None), Ok(5e-3)); // 1% of 0.5 > 1e-3
        assert_eq!(both.allowed(0.01, None), Ok(1e-3)); // 1% of 0.01 < 1e-3
        assert_eq!(Tolerance::relative(0.5).allowed(0.0, None), Ok(0.0));
    }

    #[test]
    fn standard_errors_of_a_difference_of_means() {
        // s = 0.02, n = 5 recorded and 4 now: SE = 0.02 * sqrt(1/5 + 1/4) = 0.02 * sqrt(0.45).
        let se = standard_error(0.02, 5, 4).unwrap();
        assert!((se - 0.013_416_407_864_998_74).abs() < 1e-15, "{se}");
        let allowed = Tolerance::standard_errors(3.0)
            .allowed(0.7, Some(se))
            .unwrap();
        assert!(
            (allowed - 0.040_249_223_594_996_22).abs() < 1e-15,
            "{allowed}"
        );
        assert_eq!(standard_error(f64::NAN, 5, 4), None);
        assert_eq!(standard_error(0.1, 5, 0), None);
        // Bit-identical seeds give s = 0: the mean must then be exact.
        assert_eq!(
            Tolerance::standard_errors(3.0).allowed(0.7, standard_error(0.0, 2, 2)),
            Ok(0.0)
        );
        // Without a standard error, std_errors alone cannot be used; with abs it is ignored.
        assert_eq!(
            Tolerance::standard_errors(3.0).allowed(0.7, None),
            Err(ToleranceError::NoStandardError)
        );
        let mixed = Tolerance {
            abs: Some(0.01),
            rel: None,
            std_errors: Some(3.0),
        };
        assert_eq!(mixed.allowed(0.7, None), Ok(0.01));
        assert_eq!(mixed.allowed(0.7, Some(0.1)), Ok(0.30000000000000004));
    }

    #[test]
    fn validation() {
        assert_eq!(
            Tolerance::default().validate(true),
            Err(ToleranceError::Empty)
        );
        assert_eq!(
            Tolerance::absolute(-1.0).validate(true),
            Err(ToleranceError::Negative("abs", -1.0))
        );
        assert!(matches!(
            Tolerance::relative(f64::NAN).validate(true),
            Err(ToleranceError::Negative("rel", _))
        ));
        assert_eq!(
            Tolerance::standard_errors(2.0).validate(false),
            Err(ToleranceError::StdErrorsNotAllowed)
        );
        assert_eq!(Tolerance::standard_errors(2.0).validate(true), Ok(()));
        assert_eq!(Tolerance::EXACT.validate(false), Ok(()));
    }

    #[test]
    fn verdicts_follow_the_metric_direction() {
        use Direction::*;
        // Exact tolerance: one ulp is a change.
        let e = 0.8125_f64;
        let next = f64::from_bits(e.to_bits() + 1);
        assert_eq!(judge(e, e, 0.0, Some(Higher)), Verdict::Pass);
        assert_eq!(judge(e, next, 0.0, Some(Higher)), Verdict::Better);
        assert_eq!(judge(e, next, 0.0, Some(Lower)), Verdict::Worse);
        // At the boundary passes, beyond fails.
        assert_eq!(judge(0.5, 0.75, 0.25, Some(Higher)), Verdict::Pass);
        assert_eq!(judge(0.5, 0.24, 0.25, Some(Higher)), Verdict::Worse);
        assert_eq!(judge(0.5, 0.24, 0.25, Some(Lower)), Verdict::Better);
        assert_eq!(judge(0.5, 0.9, 0.25, None), Verdict::Changed);
        assert_eq!(judge(0.5, f64::NAN, 1.0, Some(Lower)), Verdict::Worse);
        assert_eq!(
            judge(0.5, f64::INFINITY, f64::INFINITY, None),
            Verdict::Worse
        );
        assert!(Verdict::Better.fails(false) && !Verdict::Better.fails(true));
        assert!(Verdict::Missing.fails(true) && !Verdict::Pass.fails(false));
    }

    #[test]
    fn display() {
        assert_eq!(Tolerance::absolute(1e-9).to_string(), "abs 1e-9");
        assert_eq!(Tolerance::EXACT.to_string(), "exact");
        let t = Tolerance {
            abs: None,
            rel: Some(0.01),
            std_errors: Some(3.0),
        };
        assert_eq!(t.to_string(), "rel 0.01 | 3 SE");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
    }
}
