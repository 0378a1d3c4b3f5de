//! The output layer: every command's tables and text leave through here. Analysis hands over
//! values; this module only lays them out (aligned text, Markdown, HTML, CSV). JSON output is
//! the analysis types' serde derives, not built here.

pub mod inline;
pub mod table;

pub use table::{Align, Table};
