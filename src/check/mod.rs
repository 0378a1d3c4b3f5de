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
//! Data flows one way: store → `verify` or `update` → `render`.

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
use crate::store::{RunRow, RunStatus};
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
            let path = args.expected.clone();
            return Err(CheckError::Read { path, source });
        }
    };
    let data = load::experiment(&args.db, &args.experiment, Depth::Results)?;
    let done = || data.runs.iter().filter(|r| is_done(r));
    // Where the done runs ran.
    let running_on = RecordedOn::of_runs(done().filter_map(|r| data.environments.get(&r.run_key)));
    let Some(file) = old.as_ref().filter(|_| !args.update) else {
        if done().next().is_none() {
            return Err(CheckError::NothingDone(args.experiment.clone()));
        }
        let u = update::update(
            old.as_ref(),
            &args.experiment,
            &data.runs,
            &data.results,
            args.record,
            running_on,
        );
        let text = write_update(&args.expected, &u.file)?;
        let verb = if old.is_some() { "updated" } else { "wrote" };
        let experiment = &args.experiment;
        let mut out = match u.changes.len() {
            0 => format!("{text}: no changes (experiment {experiment})\n"),
            n => format!("{verb} {text} from experiment {experiment}: {n} changes\n"),
        };
        out.extend(u.changes.iter().map(|c| format!("  {c}\n")));
        out.extend(u.warnings.iter().map(|w| format!("warning: {w}\n")));
        return Ok(CommandOutput {
            text: out,
            code: crate::exit::SUCCESS,
        });
    };
    let outcome = verify(
        file,
        &args.experiment,
        &data.runs,
        &data.results,
        &running_on,
    );
    let db = args.db.display().to_string();
    let ctx = render::Context {
        experiment: &args.experiment,
        expected_file: &origin,
        db: &db,
        allow_better: args.allow_better,
    };
    let text = match args.format {
        CheckFormat::Table => render::table(&outcome, &ctx),
        CheckFormat::Json => render::json(&outcome, &ctx),
    };
    let code = match outcome.passed(args.allow_better) {
        true => crate::exit::SUCCESS,
        false => crate::exit::REGRESSION,
    };
    Ok(CommandOutput { text, code })
}

/// Writes `file` to `path` (its folder created), after checking that the text reads back as
/// valid (and equal) expectations; returns how the path is named.
fn write_update(path: &std::path::Path, file: &ExpectedFile) -> Result<String, CheckError> {
    let (text, origin) = (file.to_yaml(), path.display().to_string());
    let back = parse(&text, &origin)?;
    debug_assert_eq!(back.to_yaml(), text);
    let written = |result: std::io::Result<()>| {
        let path = path.to_path_buf();
        result.map_err(|source| CheckError::Write { path, source })
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        written(std::fs::create_dir_all(dir))?;
    }
    written(std::fs::write(path, &text))?;
    Ok(origin)
}

/// Whether a run finished (only done runs have final results to check or record).
pub fn is_done(run: &RunRow) -> bool {
    run.status == RunStatus::Done.as_str()
}
