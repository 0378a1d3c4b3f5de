//! Stable run keys.
//!
//! A run's key is the first 16 hex characters of
//! `SHA-256("harness/run/v1\n" || canonical_json(identity))`, where `identity` holds exactly the
//! parts of the resolved [`RunConfig`] that determine the result: `task`, `variant`,
//! `variant_settings`, `seed`, `model`, `train`, `threads`. Left out: the experiment's name and
//! description, the device (recorded per run), `data_dir`, and everything about other runs, so
//! adding seeds, tasks or variants keeps the keys of existing runs.
//!
//! Canonical JSON: object keys sorted by byte order, no whitespace, integers in decimal, floats
//! in Rust's shortest round-trip `{:?}` form (`2e-5`, `0.1`, `1.0`), strings as serde_json
//! escapes them.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::grid::RunConfig;

/// Writes `value` as canonical JSON (see the module documentation).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else {
                let f = n.as_f64().expect("a JSON number is u64, i64 or f64");
                out.push_str(&format!("{f:?}"));
            }
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}

/// The JSON of the result-determining parts of `config`.
pub fn identity(config: &RunConfig) -> Value {
    serde_json::json!({
        "task": config.task,
        "variant": config.variant,
        "variant_settings": config.variant_settings,
        "seed": config.seed,
        "model": config.model,
        "train": config.train,
        "threads": config.threads,
    })
}

/// The 16-hex-character key of a run.
pub fn run_key(config: &RunConfig) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"harness/run/v1\n");
    hasher.update(canonical_json(&identity(config)).as_bytes());
    hex::encode(hasher.finalize())[..16].to_string()
}
