//! `harness compare`: per-seed final values side by side (seeds as rows, variants as columns),
//! then summary rows (n, mean, std, std reduction against the reference column, Brown–Forsythe
//! and Welch p-values). With two experiments (`A..B` or `A B`) it puts the same variant of both
//! side by side, the first experiment being the reference (e.g. before and after a code change).
//!
//! Without `--metric`, each task shows its primary metric (every metric when the task has no
//! known primary metric or did not record it). Output formats: an aligned text table, Markdown,
//! CSV (one header: `task,metric,row,<every column>`; rows are seeds, then `n`, `mean`, `std`,
//! `std_reduction`, `p_brown_forsythe`, `p_welch`, `degenerate`, `interpretable`; empty cells
//! where a column has no value) and JSON:
//! ```json
//! {"experiments": ["a"], "blocks": [{"task": "rte", "sweep": "", "metric": "acc", "split": "dev",
//!   "direction": "higher", "columns": ["baseline", "cross_head"], "reference": "baseline",
//!   "rows": [{"seed": 1, "values": [0.62, 0.64], "status": ["done", "done"]}],
//!   "summary": {"n": [5, 4], "mean": [..], "std": [..], "std_reduction": [null, 0.72],
//!               "p_brown_forsythe": [null, 0.13], "p_welch": [null, 0.47],
//!               "degenerate": [1, 0], "interpretable": [null, true], "not_interpretable": [null, null]}}]}
//! ```
//! Non-finite numbers are `null` in JSON. `degenerate` counts done runs at or below the
//! majority-class score (`null` without one). A column compared with a reference when either has
//! not learned the task (most runs degenerate; `analysis::learned`) is not interpretable: its
//! `std_reduction` is `null` (empty in CSV, "not interpretable" in the tables, with the counts
//! below the table) and `not_interpretable` says why.

use crate::analysis::load::{self, Depth};
use std::path::{Path, PathBuf};

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

/// `harness compare`: reads the experiment(s) from `db` and renders the comparison.
pub fn compare_command(
    db: &Path,
    experiments: &[String],
    task: Option<&str>,
    metric: Option<&str>,
    format: CompareFormat,
) -> anyhow::Result<String> {
    let names = parse_experiments(experiments)?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let data = load::experiments(db, &refs, Depth::Results)?;
    let selection = Selection { task, metric };
    let blocks = match data.as_slice() {
        [one] => single(one, &selection)?,
        [a, b] => pair(a, b, &selection)?,
        _ => unreachable!("parse_experiments returns one or two names"),
    };
    Ok(render(&names, &blocks, format))
}

#[cfg(test)]
mod tests;
