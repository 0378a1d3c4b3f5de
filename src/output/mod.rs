//! The output layer: every command's tables and text leave through here. Analysis hands over
//! values; this module only lays them out (aligned text, Markdown, HTML, CSV). JSON output is
//! the analysis types' serde derives, not built here.

pub mod inline;
pub mod table;

pub use table::{Align, Table};

/// A JSON document as the commands print it: pretty, with a final line break.
pub fn json<T: serde::Serialize>(doc: &T) -> serde_json::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(doc)?))
}

/// The name a unit variant has in JSON (`Verdict::Pass` → `pass`), so that tables print the
/// names JSON documents use.
pub fn name_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
