//! The one error type of spec loading, and the rewording of serde's messages into the spec's
//! vocabulary ("a number" rather than "f64", "allowed: ..." lists).

use std::fmt;

/// A problem with a spec: where (file and position, or the `--set` argument), which field, what.
///
/// Displays as `experiments/x.yaml:12:7: train.lr: must be a positive number, got -1`, or
/// `--set train.lr=abc: train.lr: expected a number, got `abc``; the position is left out when
/// unknown and the field when the problem concerns the whole document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The spec file, or `--set <arg>` for a value that came from an override.
    pub origin: String,
    /// Line in the file, from 1.
    pub line: Option<usize>,
    /// Column in the file, from 1.
    pub column: Option<usize>,
    /// Dotted path of the field (`train.lr`, `tasks[1]`); empty for the top level.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// A serde_yaml error of deserializing `text` (read from `origin`), located and reworded as a
/// spec's own are: unknown fields at their key, missing fields at their mapping, the rest where
/// serde_yaml says. For other files that share the spec's `FILE:LINE:COLUMN: field: message`.
pub fn yaml_error(e: &serde_yaml::Error, origin: &str, text: &str) -> SpecError {
    super::Context {
        origin,
        text,
        locator: super::locate::Locator::new(text),
    }
    .serde_error(e)
}

/// Splits a serde error's text (location already removed) into its path prefix and message.
/// serde_yaml writes `path: message` except at the top level.
pub(crate) fn split_path(text: &str) -> (String, String) {
    if let Some((head, tail)) = text.split_once(": ") {
        let looks_like_path = !head.is_empty()
            && !head.contains([' ', '`', '"', '\''])
            && super::locate::FieldPath::parse(head).is_ok();
        if looks_like_path {
            return (head.to_string(), tail.to_string());
        }
    }
    (String::new(), text.to_string())
}

/// The name inside the first pair of backticks of `text`, if any.
pub(crate) fn backticked(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(&text[start..start + len])
}

/// Every name inside backticks in `text`.
fn all_backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Rewords a serde message for a spec author. `at_top` says the problem is in the top-level
/// mapping (its unknown fields are then said to be "at the top level").
pub(crate) fn humanize(msg: &str, at_top: bool) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let name = backticked(rest).unwrap_or("?");
        let after = &rest[name.len() + 2..];
        let place = if at_top { " at the top level" } else { "" };
        let allowed = all_backticked(after);
        return if allowed.is_empty() {
            format!("unknown field `{name}`{place}; no fields are allowed here")
        } else {
            format!(
                "unknown field `{name}`{place}; allowed: {}",
                allowed.join(", ")
            )
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let name = backticked(rest).unwrap_or("?");
        let after = &rest[name.len() + 2..];
        return format!(
            "unknown value `{name}`; allowed: {}",
            all_backticked(after).join(", ")
        );
    }
    if let Some(rest) = msg.strip_prefix("duplicate entry with key ") {
        return format!("duplicate key {rest}; each key may appear only once");
    }
    if let Some(rest) = msg.strip_prefix("missing field ") {
        return format!("missing required field {rest}");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((got, expected)) = rest.rsplit_once(", expected ") {
                let expected = expected_words(expected);
                return format!("expected {expected}, got {}", got_sentence(got, &expected));
            }
        }
    }

    msg.to_string()
}

fn expected_words(expected: &str) -> String {
    match expected {
        "f32" | "f64" => "a number".into(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".into(),
        "a borrowed string" | "a string" | "path string" => "a string".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        "option" => "a value or null".into(),
        // serde_yaml says this of an integer past 64 bits, which it keeps as u128/i128.
        "any YAML value" => "a 64-bit number".into(),
        other if other.starts_with("struct ") => "a mapping".into(),
        other => other.into(),
    }
}

/// What was found, with what is wrong with it where the plain value hides it: a quoted number
/// is a string, `1e999` is infinite, an integer past 64 bits does not fit.
fn got_sentence(got: &str, expected: &str) -> String {
    let wants_number = matches!(
        expected,
        "a number" | "a non-negative integer" | "an integer"
    );
    if let Some(s) = got.strip_prefix("string ") {
        let inner = s
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(s);
        if wants_number {
            if let Ok(v) = inner.trim().parse::<f64>() {
                return if v.is_finite() {
                    format!("the string \"{inner}\" (a number in quotes); write it without quotes")
                } else {
                    format!("`{inner}`, which is not a finite 64-bit number; give a finite one")
                };
            }
        }
    }
    for wide in [" as u128", " as i128"] {
        if let Some(n) = got.strip_suffix(wide) {
            let n = n.trim_start_matches("integer ").trim_matches('`');
            return format!("{n}, which does not fit in 64 bits (at most 18446744073709551615)");
        }
    }
    got_words(got)
}

fn got_words(got: &str) -> String {
    if let Some(s) = got.strip_prefix("string ") {
        let inner = s
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(s);
        return format!("`{inner}`");
    }
    for prefix in ["integer ", "floating point ", "boolean ", "character "] {
        if let Some(v) = got.strip_prefix(prefix) {
            return v.to_string();
        }
    }
    match got {
        "unit value" => "null".into(),
        "map" => "a mapping".into(),
        "sequence" => "a list".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_with_and_without_position_and_field() {
        let mut e = SpecError {
            origin: "experiments/x.yaml".into(),
            line: Some(12),
            column: Some(7),
            field: "train.lr".into(),
            message: "must be a positive number, got -1".into(),
        };
        assert_eq!(
            e.to_string(),
            "experiments/x.yaml:12:7: train.lr: must be a positive number, got -1"
        );
        e.line = None;
        e.column = None;
        e.field = String::new();
        assert_eq!(
            e.to_string(),
            "experiments/x.yaml: must be a positive number, got -1"
        );
    }

    #[test]
    fn rewords_serde_messages() {
        assert_eq!(
            humanize("invalid type: string \"abc\", expected f64", false),
            "expected a number, got `abc`"
        );
        assert_eq!(
            humanize("invalid value: integer `-1`, expected u64", false),
            "expected a non-negative integer, got `-1`"
        );
        assert_eq!(
            humanize("invalid type: sequence, expected struct TrainSpec", false),
            "expected a mapping, got a list"
        );
        assert_eq!(
            humanize(
                "unknown field `seed`, expected one of `name`, `seeds`",
                true
            ),
            "unknown field `seed` at the top level; allowed: name, seeds"
        );
        assert_eq!(
            humanize("unknown field `x`, expected `prob`", false),
            "unknown field `x`; allowed: prob"
        );
        assert_eq!(
            humanize("unknown variant `gpt`, expected `bert`", false),
            "unknown value `gpt`; allowed: bert"
        );
        assert_eq!(
            humanize("missing field `name`", true),
            "missing required field `name`"
        );
    }

    #[test]
    fn splits_paths_from_messages() {
        assert_eq!(
            split_path("train.lr: invalid type: string \"x\", expected f64"),
            (
                "train.lr".to_string(),
                "invalid type: string \"x\", expected f64".to_string()
            )
        );
        assert_eq!(
            split_path("invalid type: map, expected a string"),
            (
                String::new(),
                "invalid type: map, expected a string".to_string()
            )
        );
        assert_eq!(
            split_path("tasks[1]: unknown task `x`; allowed: a"),
            (
                "tasks[1]".to_string(),
                "unknown task `x`; allowed: a".to_string()
            )
        );
    }
}
