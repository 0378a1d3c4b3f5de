//! `harness check`: compares an experiment's final results in the store with expected results
//! kept in a committed YAML file, so that a change that moves results fails CI with a readable
//! diff; `--update` rewrites the file from the current results.
//!
//! README.md, "Regression checks", describes the command, the expected file, what is checked,
//! the verdicts, the default tolerances and the JSON output (whose fields are only ever added).
//! Exit codes (the table of [`crate::exit`]): 0 every check holds (or `--update` wrote the
//! file); 3 a value moved beyond its tolerance, or an expected run is missing or not done; 2 bad
//! input (an unreadable or invalid expected file, an unknown experiment); 1 the database cannot
//! be opened or read.
//!
//! [`expected`] reads and writes the file, [`verify`] compares it with the stored results,
//! [`render`] prints what `verify` found, [`update`] builds the new file for `--update`;
//! [`tolerance`] holds the arithmetic, [`show`] the number formats, [`recorded`] the machine.

pub mod expected;
pub mod recorded;
pub mod render;
pub mod show;
pub mod tolerance;
pub mod update;
pub mod verify;

pub use expected::{parse, ExpectedFile, FileError};
pub use recorded::RecordedOn;
pub use tolerance::{Tolerance, Verdict};
pub use update::Record;
pub use verify::{verify, Check, Outcome};

use crate::analysis::load::{self, Depth, ReadError};
use crate::store::{ResultRow, RunRow, RunStatus};
use std::collections::HashMap;
use std::path::PathBuf;

/// Output format of `harness check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

/// Arguments of `harness check` (for the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The experiment whose results are checked
    pub experiment: String,
    /// The expected results (YAML), e.g. results/expected/EXPERIMENT.yaml
    #[arg(long, value_name = "FILE")]
    pub expected: PathBuf,
    /// Results database: a SQLite file path or a postgres://user@host:port/db URL
    #[arg(long, env = crate::store::DB_ENV, default_value = crate::store::DEFAULT_DB)]
    pub db: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: CheckFormat,
    /// Rewrite FILE from the current results (keeping its tolerances) and print what changed
    #[arg(long)]
    pub update: bool,
    /// With --update: which sections to write [default: the file's, or `runs` for a new file]
    #[arg(long, value_enum, requires = "update")]
    pub record: Option<Record>,
    /// Let values that moved in their better direction pass
    #[arg(long, conflicts_with = "update")]
    pub allow_better: bool,
}

/// Why `harness check` could not compare; [`CheckError::exit_code`] says with which code it
/// exits.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{}: {source}; write it with `harness check EXPERIMENT --expected {} --update`", path.display(), path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Store(#[from] ReadError),
    #[error(
        "experiment `{0}` has no done runs: nothing to record (run it first: `harness run SPEC`)"
    )]
    NothingDone(String),
    #[error("could not write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CheckError {
    /// 1 where the store failed, 2 for bad input (see [`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CheckError::Store(e) => e.exit_code(),
            CheckError::Write { .. } => crate::exit::FAILURE,
            _ => crate::exit::BAD_INPUT,
        }
    }
}

/// What the command prints (to stdout) and its exit code.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub text: String,
    pub code: u8,
}

/// Runs `harness check` (or `--update`).
pub fn check_command(args: &CheckArgs) -> Result<CommandOutput, CheckError> {
    let origin = args.expected.display().to_string();
    let old = match std::fs::read_to_string(&args.expected) {
        Ok(text) => Some(parse(&text, &origin)?),
        Err(e) if args.update && e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(CheckError::Read {
                path: args.expected.clone(),
                source,
            })
        }
    };
    let data = load::experiment(&args.db, &args.experiment, Depth::Results)?;
    let (runs, results) = (&data.runs, &data.results);
    // Where the done runs ran.
    let running_on = RecordedOn::of_runs(
        runs.iter()
            .filter(|r| is_done(r))
            .filter_map(|r| data.environments.get(&r.run_key)?.as_deref()),
    );
    if args.update {
        return write_update(args, old.as_ref(), runs, results, running_on);
    }
    let file = old.expect("read above");
    let outcome = verify(&file, &args.experiment, runs, results, &running_on);
    let db = args.db.display().to_string();
    let ctx = render::Context {
        experiment: &args.experiment,
        expected_file: &origin,
        db: &db,
        allow_better: args.allow_better,
    };
    let text = match args.format {
        CheckFormat::Table => render::table(&outcome, &ctx),
        CheckFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&render::json(&outcome, &ctx))
                .expect("JSON of plain data")
        ),
    };
    Ok(CommandOutput {
        text,
        code: if outcome.passed(args.allow_better) {
            crate::exit::SUCCESS
        } else {
            crate::exit::REGRESSION
        },
    })
}

fn write_update(
    args: &CheckArgs,
    old: Option<&ExpectedFile>,
    runs: &[RunRow],
    results: &HashMap<String, Vec<ResultRow>>,
    running_on: RecordedOn,
) -> Result<CommandOutput, CheckError> {
    if !runs.iter().any(is_done) {
        return Err(CheckError::NothingDone(args.experiment.clone()));
    }
    let u = update::update(
        old,
        &args.experiment,
        runs,
        results,
        args.record,
        running_on,
    );
    let text = u.file.to_yaml();
    let origin = args.expected.display().to_string();
    // What is written must read back as valid (and equal) expectations.
    let back = parse(&text, &origin)?;
    debug_assert_eq!(back.to_yaml(), text);
    let written = |result: std::io::Result<()>| {
        result.map_err(|source| CheckError::Write {
            path: args.expected.clone(),
            source,
        })
    };
    if let Some(dir) = args.expected.parent().filter(|d| !d.as_os_str().is_empty()) {
        written(std::fs::create_dir_all(dir))?;
    }
    written(std::fs::write(&args.expected, &text))?;
    let mut out = String::new();
    let verb = if old.is_some() { "updated" } else { "wrote" };
    if u.changes.is_empty() {
        out.push_str(&format!(
            "{origin}: no changes (experiment {})\n",
            args.experiment
        ));
    } else {
        out.push_str(&format!(
            "{verb} {origin} from experiment {}: {} changes\n",
            args.experiment,
            u.changes.len()
        ));
        for c in &u.changes {
            out.push_str(&format!("  {c}\n"));
        }
    }
    for w in &u.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    Ok(CommandOutput { text: out, code: 0 })
}

/// Whether a run finished (only done runs have final results to check or record).
pub fn is_done(run: &RunRow) -> bool {
    run.status == RunStatus::Done.as_str()
}
