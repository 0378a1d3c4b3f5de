//! Whether a comparison means something: a task an arm has not learned (most of its done runs
//! degenerate, at or below the majority-class score; Mosbach et al. 2021) has a spread that
//! measures collapse, not seed variance, so a std reduction computed from it is not
//! interpretable. Such comparisons are shown with their counts and kept out of aggregates.

use super::Direction;
use serde::Serialize;

/// An arm that has not learned the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotLearned {
    pub variant: String,
    /// Degenerate done runs.
    pub degenerate: usize,
    /// Done runs.
    pub n: usize,
}

impl NotLearned {
    /// The arm `variant` when `degenerate` of its `n` done runs mean it has not learned.
    pub fn of(variant: &str, degenerate: Option<usize>, n: usize) -> Option<NotLearned> {
        has_not_learned(degenerate, n).then(|| NotLearned {
            variant: variant.to_string(),
            degenerate: degenerate.unwrap_or(0),
            n,
        })
    }
}

/// Whether `degenerate` of `n` done runs mean the arm has not learned: more than half are
/// degenerate. Unknown (no majority baseline) counts as learned.
pub fn has_not_learned(degenerate: Option<usize>, n: usize) -> bool {
    degenerate.is_some_and(|d| n > 0 && 2 * d > n)
}

/// "at or below" (higher is better) or "at or above" (lower is better).
pub fn degenerate_side(direction: Option<Direction>) -> &'static str {
    match direction {
        Some(Direction::Lower) => "at or above",
        _ => "at or below",
    }
}

/// "not interpretable: the task was not learned (baseline 4/5 runs at or below the majority
/// class)"; `None` when every arm learned.
pub fn not_interpretable(
    not_learned: &[NotLearned],
    direction: Option<Direction>,
) -> Option<String> {
    if not_learned.is_empty() {
        return None;
    }
    let arms: Vec<String> = not_learned
        .iter()
        .map(|a| {
            format!(
                "{} {}/{} runs {} the majority class",
                a.variant,
                a.degenerate,
                a.n,
                degenerate_side(direction)
            )
        })
        .collect();
    Some(format!(
        "not interpretable: the task was not learned ({})",
        arms.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_runs_degenerate_means_not_learned() {
        assert!(has_not_learned(Some(3), 5));
        assert!(!has_not_learned(Some(2), 4)); // half is not most
        assert!(has_not_learned(Some(4), 4));
        assert!(!has_not_learned(None, 5));
        assert!(!has_not_learned(Some(0), 0));
        let arms = [NotLearned {
            variant: "baseline".into(),
            degenerate: 4,
            n: 5,
        }];
        assert_eq!(
            not_interpretable(&arms, Some(Direction::Higher)).unwrap(),
            "not interpretable: the task was not learned (baseline 4/5 runs at or below the majority class)"
        );
        assert!(not_interpretable(&arms, Some(Direction::Lower))
            .unwrap()
            .contains("at or above"));
        assert_eq!(not_interpretable(&[], None), None);
    }
}
