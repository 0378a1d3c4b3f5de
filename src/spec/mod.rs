//! The experiment spec: YAML types, loading with `--set` overrides, validation with file, line
//! and column, expansion into runs, and stable run keys.
//!
//! Loading: the text is deserialized on its own first, so that structural errors keep serde_yaml's
//! location; overrides are then applied to the parsed YAML and the result deserialized again (an
//! error that lies in an overridden value is blamed on its `--set` argument). Semantic validation
//! follows; its errors are located with [`locate::Locator`].

pub mod claims;
pub mod error;
pub mod grid;
pub mod limits;
pub mod locate;
pub mod model_spec;
pub mod overrides;
pub mod params;
pub mod run_key;
pub mod types;
pub mod validate;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use claims::{ClaimSpec, Claimed};
pub use error::SpecError;
pub use grid::{dry_run_table, expand, RunConfig, RunPlan, VariantSettings};
pub use locate::FieldPath;
pub use run_key::run_key;
pub use types::{
    BertSpec, CrossHeadSpec, DeviceSpec, LrSchedule, ModelKind, ModelSpec, SeedRange, Seeds,
    SkipScheduleName, SkipSpec, Spec, Task, TrainSpec, TxlSpec, VariantSpec, Variants,
};

use error::{backticked, humanize, split_path};
use locate::{Locator, Pos};
use overrides::Override;
use types::SPEC_FIELDS;

/// A loaded, validated spec.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedSpec {
    /// The file it came from.
    pub path: PathBuf,
    /// The spec with overrides applied.
    pub spec: Spec,
    /// The file's text.
    pub text: String,
    /// The `--set` arguments, as given.
    pub overrides: Vec<String>,
    /// SHA-256 (hex) of the text followed, for each override, by a NUL byte and the override.
    pub hash: String,
}

/// Reads, overrides and validates the spec at `path` (at most [`limits::MAX_SPEC_BYTES`]).
pub fn load(path: &Path, sets: &[String]) -> Result<LoadedSpec, SpecError> {
    use std::io::Read;
    let origin = path.display().to_string();
    let whole_file = |message: String| SpecError {
        origin: origin.clone(),
        line: None,
        column: None,
        field: String::new(),
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limits::MAX_SPEC_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| whole_file(format!("cannot read the spec: {e}")))?;
    if bytes.len() as u64 > limits::MAX_SPEC_BYTES {
        return Err(whole_file(format!(
            "the spec is larger than {} KiB; a spec is a short YAML file (is this the right file?)",
            limits::MAX_SPEC_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        whole_file(format!(
            "the spec is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let mut loaded = parse_str(&text, &origin, sets)?;
    loaded.path = path.to_path_buf();
    Ok(loaded)
}

/// Where a second YAML document starts: a `---` line after the first document's content.
fn second_document(text: &str) -> Option<Pos> {
    let mut content = false;
    for (i, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ");
        if is_marker && content {
            return Some(Pos {
                line: i + 1,
                column: 1,
            });
        }
        let trimmed = line.trim();
        if !is_marker && !trimmed.is_empty() && !trimmed.starts_with('#') {
            content = true;
        }
    }
    None
}

impl LoadedSpec {
    /// Refuses grids larger than `max` runs (the default is [`limits::DEFAULT_MAX_GRID`]; the
    /// commands that expand a grid take `--max-grid N`) before anything is expanded.
    pub fn check_grid_size(&self, max: u64) -> Result<u64, SpecError> {
        let message = match validate::grid_size(&self.spec) {
            Some(n) if n <= max => return Ok(n),
            Some(n) => format!(
                "the grid has {n} runs (seeds × tasks × variants × sweep points), more than the limit {max}; pass --max-grid {n} to run it anyway"
            ),
            None => "the grid has more runs than a 64-bit count holds (seeds × tasks × variants × sweep points)".into(),
        };
        // Only a refused grid needs the file located again.
        let pos = Locator::new(&self.text).value_pos(&locate::FieldPath::of(&["seeds"]));
        Err(SpecError {
            origin: self.path.display().to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            field: "seeds".into(),
            message,
        })
    }
}

/// As [`load`], from a text; `origin` names it in errors.
pub fn parse_str(text: &str, origin: &str, sets: &[String]) -> Result<LoadedSpec, SpecError> {
    let bare = |pos: Pos, message: String| SpecError {
        origin: origin.to_string(),
        line: Some(pos.line),
        column: Some(pos.column),
        field: String::new(),
        message,
    };
    if let Some((pos, c)) = limits::control_byte(text) {
        return Err(bare(
            pos,
            format!(
                "control character U+{:04X} in the spec; a spec is YAML text (is this the right file?)",
                c as u32
            ),
        ));
    }
    if let Some(pos) = limits::too_deep(text, limits::MAX_DEPTH) {
        return Err(bare(
            pos,
            format!(
                "nested deeper than {} levels; a spec needs a few",
                limits::MAX_DEPTH
            ),
        ));
    }
    if let Some(pos) = limits::yaml_tag(text) {
        return Err(bare(
            pos,
            "YAML tags (`!!str`, `!!float`, …) are not used in specs; write the value plainly (numbers without quotes)".into(),
        ));
    }
    if let Some(pos) = second_document(text) {
        return Err(bare(
            pos,
            "a second YAML document starts here; a spec is one document (remove this `---` and what follows, or put it in its own file)".into(),
        ));
    }
    let ctx = Context {
        origin,
        text,
        locator: Locator::new(text),
    };
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| ctx.serde_error(&e))?;
    if doc.is_null() {
        return Err(ctx.at(
            Some(Pos { line: 1, column: 1 }),
            String::new(),
            format!(
                "the spec is empty; expected a mapping with the fields {}",
                SPEC_FIELDS.join(", ")
            ),
        ));
    }
    let overrides = sets
        .iter()
        .map(|arg| Override::parse(arg).map_err(|(field, message)| set_error(arg, field, message)))
        .collect::<Result<Vec<_>, _>>()?;

    let from_text = serde_yaml::from_str::<Spec>(text);
    // Whether the file is valid on its own: a problem that appears only with the overrides is
    // theirs, wherever it shows.
    let text_valid = from_text
        .as_ref()
        .is_ok_and(|s| validate::validate(s).is_ok());
    let spec = if overrides.is_empty() {
        from_text.map_err(|e| ctx.serde_error(&e))?
    } else {
        for o in &overrides {
            o.apply(&mut doc)
                .map_err(|(field, message)| set_error(&o.arg, field, message))?;
        }
        let merged = serde_yaml::to_string(&doc).map_err(|e| ctx.serde_error(&e))?;
        match serde_yaml::from_str::<Spec>(&merged) {
            Ok(spec) => spec,
            Err(e) => {
                let found = SerdeProblem::from(&e);
                let blamed = blame(&overrides, &found.blame_path(), from_text.is_ok());
                match (blamed, from_text) {
                    (Some(o), _) => {
                        return Err(set_error(&o.arg, found.path.to_string(), found.message()))
                    }
                    (None, Err(text_error)) => return Err(ctx.serde_error(&text_error)),
                    (None, Ok(_)) => return Err(ctx.located(&found, None)),
                }
            }
        }
    };

    if let Err(issue) = validate::validate(&spec) {
        let field = issue.path.to_string();
        if let Some(o) = overrides
            .iter()
            .rev()
            .find(|o| issue.path.starts_with(&o.path) || o.path.starts_with(&issue.path))
        {
            return Err(set_error(&o.arg, field, issue.message));
        }
        if text_valid && !overrides.is_empty() {
            let args: Vec<&str> = overrides.iter().map(|o| o.arg.as_str()).collect();
            return Err(set_error(
                &args.join(" --set "),
                field,
                format!(
                    "{} (the file alone is valid: these overrides create the conflict)",
                    issue.message
                ),
            ));
        }
        let pos = if issue.at_key {
            ctx.locator.key_pos(&issue.path)
        } else {
            ctx.locator.value_pos(&issue.path)
        };
        return Err(ctx.at(pos, field, issue.message));
    }

    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    for set in sets {
        hasher.update([0u8]);
        hasher.update(set.as_bytes());
    }
    Ok(LoadedSpec {
        path: PathBuf::from(origin),
        spec,
        text: text.to_string(),
        overrides: sets.to_vec(),
        hash: hex::encode(hasher.finalize()),
    })
}

/// The override to blame for a problem at `path`: the last one whose path contains it; when
/// the text alone was fine (`text_ok`), also one below it, and failing that the last one.
fn blame<'a>(overrides: &'a [Override], path: &FieldPath, text_ok: bool) -> Option<&'a Override> {
    let inside = overrides.iter().rev().find(|o| path.starts_with(&o.path));
    if inside.is_some() || !text_ok {
        return inside;
    }
    overrides
        .iter()
        .rev()
        .find(|o| o.path.starts_with(path))
        .or(overrides.last())
}

fn set_error(arg: &str, field: String, message: String) -> SpecError {
    SpecError {
        origin: format!("--set {arg}"),
        line: None,
        column: None,
        field,
        message,
    }
}

/// A serde_yaml error taken apart.
struct SerdeProblem {
    /// Path of the value being deserialized (for an unknown field: of its mapping).
    path: FieldPath,
    /// serde's message, without path and location.
    raw: String,
    /// serde_yaml's location, 1-based.
    pos: Option<Pos>,
    /// Whether the message named the last step of `path` itself (`model: n_layer: …`, from a
    /// mapping that checks its own fields, see [`model_spec`]): serde_yaml's location is then
    /// that of the mapping, not of the field.
    named_inside: bool,
}

impl SerdeProblem {
    fn from(e: &serde_yaml::Error) -> Self {
        let mut text = e.to_string();
        let pos = e.location().map(|l| Pos {
            line: l.line(),
            column: l.column(),
        });
        if let Some(p) = pos {
            let suffix = format!(" at line {} column {}", p.line, p.column);
            if let Some(stripped) = text.strip_suffix(&suffix) {
                text = stripped.to_string();
            }
        }
        let (path_text, raw) = split_path(&text);
        let mut path = FieldPath::parse(&path_text).unwrap_or_default();
        let (inner, rest) = split_path(&raw);
        let named_inside = match FieldPath::parse(&inner) {
            Ok(inner) if !inner.0.is_empty() => {
                path.0.extend(inner.0);
                true
            }
            _ => false,
        };
        let raw = if named_inside { rest } else { raw };
        SerdeProblem {
            path,
            raw,
            pos,
            named_inside,
        }
    }

    /// The unknown field's name, for "unknown field" errors.
    fn unknown_field(&self) -> Option<&str> {
        self.raw.strip_prefix("unknown field ").and_then(backticked)
    }

    /// The path to compare with overrides: for an unknown field, the field itself.
    fn blame_path(&self) -> FieldPath {
        match self.unknown_field() {
            Some(name) => self.path.key(name),
            None => self.path.clone(),
        }
    }

    fn message(&self) -> String {
        humanize(&self.raw, self.path.0.is_empty())
    }
}

struct Context<'a> {
    origin: &'a str,
    text: &'a str,
    locator: Locator,
}

impl Context<'_> {
    fn at(&self, pos: Option<Pos>, field: String, message: String) -> SpecError {
        SpecError {
            origin: self.origin.to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            field,
            message,
        }
    }

    /// An error found while deserializing the file's own text.
    fn serde_error(&self, e: &serde_yaml::Error) -> SpecError {
        let found = SerdeProblem::from(e);
        let pos = found.pos;
        self.located(&found, pos)
    }

    /// Places a serde problem in the file: unknown fields at their key, missing fields at the
    /// enclosing mapping, a problem the message names the field of at that field, anything else
    /// at serde_yaml's location (`fallback`) or the value.
    fn located(&self, found: &SerdeProblem, fallback: Option<Pos>) -> SpecError {
        let pos = if found.named_inside {
            // A field of another model kind is at fault by its key, anything else by its value.
            if found.raw.starts_with(model_spec::NOT_USED) {
                self.locator.key_pos(&found.path)
            } else {
                self.locator.value_pos(&found.path)
            }
            .or(fallback)
        } else if found.unknown_field().is_some() {
            self.locator
                .node(&found.blame_path())
                .and_then(|n| n.key)
                .or(fallback)
        } else if found.raw.starts_with("missing field ") {
            self.locator.value_pos(&found.path).or(fallback)
        } else if let Some(key) = found
            .raw
            .strip_prefix("duplicate entry with key \"")
            .and_then(|r| r.strip_suffix('"'))
        {
            // At the key's second occurrence, not at the mapping that holds it.
            limits::second_key(self.text, key).or(fallback)
        } else {
            fallback.or_else(|| self.locator.value_pos(&found.path))
        };
        self.at(pos, found.path.to_string(), found.message())
    }
}

#[cfg(test)]
mod tests;
