//! `harness compare`: per-seed final values side by side (seeds as rows, variants as columns),
//! then summary rows (n, mean, std, std reduction against the reference column, Brown–Forsythe
//! and Welch p-values). With two experiments (`A..B` or `A B`) it puts the same variant of both
//! side by side, the first experiment being the reference (e.g. before and after a code change).
//!
//! Without `--metric`, each task shows its primary metric (every metric when the task has no
//! known primary metric or did not record it). [`blocks`] takes the columns and their statistics
//! from `analysis`; [`render`] lays them out as an aligned text table, Markdown, CSV or JSON
//! (README.md, "Reports and statistics", describes the CSV and JSON forms).

use crate::analysis::load::{self, Depth};
use std::path::PathBuf;

mod blocks;
mod render;
pub use blocks::{pair, single, Block, Row, Selection, Summary};
pub use render::render;

/// Output format of `harness compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    Table,
    Md,
    Csv,
    Json,
}

/// Arguments of `harness compare` (for the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// One experiment, or two to compare the same variants across them (`A..B` or `A B`)
    #[arg(required = true, num_args = 1..=2, value_name = "EXPERIMENT")]
    pub experiments: Vec<String>,
    /// Results database: a SQLite file path or a postgres://user@host:port/db URL
    #[arg(long, env = crate::store::DB_ENV, default_value = crate::store::DEFAULT_DB)]
    pub db: PathBuf,
    /// Only this task
    #[arg(long)]
    pub task: Option<String>,
    /// Only this metric (`acc`, or `split/name` such as `dev_matched/acc`) [default: each task's primary metric]
    #[arg(long)]
    pub metric: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: CompareFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("`{0}` is not one experiment or two (`A..B` or `A B`)")]
    Experiments(String),
    #[error("nothing to compare in {experiments}: {what}")]
    Empty { experiments: String, what: String },
}

/// Splits `A..B` (or takes two names); one name compares the variants of one experiment.
pub fn parse_experiments(args: &[String]) -> Result<Vec<String>, CompareError> {
    match args {
        [one] => match one.split_once("..") {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains("..") => {
                Ok(vec![a.to_string(), b.to_string()])
            }
            Some(_) => Err(CompareError::Experiments(one.clone())),
            None => Ok(vec![one.clone()]),
        },
        [a, b] => Ok(vec![a.clone(), b.clone()]),
        _ => Err(CompareError::Experiments(args.join(" "))),
    }
}

/// `harness compare`: reads the experiment(s) from the store and renders the comparison.
pub fn compare_command(args: &CompareArgs) -> anyhow::Result<String> {
    let names = parse_experiments(&args.experiments)?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let data = load::experiments(&args.db, &refs, Depth::Results)?;
    let selection = Selection {
        task: args.task.as_deref(),
        metric: args.metric.as_deref(),
    };
    let blocks = match data.as_slice() {
        [one] => single(one, &selection)?,
        [a, b] => pair(a, b, &selection)?,
        _ => unreachable!("parse_experiments returns one or two names"),
    };
    Ok(render(&names, &blocks, args.format))
}

#[cfg(test)]
mod tests;
