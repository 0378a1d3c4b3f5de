//! `harness check`: compares an experiment's final results in the store with expected results
//! kept in a committed YAML file, so that a change that moves results fails CI with a readable
//! diff. `--update` rewrites the file from the current results.
//!
//! ```text
//! harness check EXPERIMENT --expected FILE [--db PATH] [--format table|json] [--allow-better]
//! harness check EXPERIMENT --expected FILE --update [--record runs|groups|both]
//! ```
//!
//! Exit codes (the table of [`crate::exit`]): 0 every check holds (or `--update` wrote the
//! file); 3 a value moved beyond its tolerance, or an expected run is missing or not done; 2 bad
//! input (an unreadable or invalid expected file, an unknown experiment); 1 the database cannot
//! be opened or read.
//!
//! # The expected file
//!
//! ```yaml
//! # Comment lines at the top are kept by --update.
//! experiment: ci_smoke            # informational: the experiment the values came from
//! recorded_on:                    # where the runs ran (rewritten by --update)
//!   cpu: "AMD EPYC"
//!   cpu_capability: "AVX512"      # ATen's kernel level: AVX512, AVX2 or DEFAULT
//!   libtorch: "2.11.0+cu130"
//!   threads: "1"
//!   device: "cpu"
//!   kernel_env: "MKL_CBWR=AVX2"   # only when kernel variables were set
//! runs:                           # one entry per run
//!   tolerance: {abs: 1e-7, rel: 1e-6}   # float results (loss, bpc, correlations) without their own
//!   discrete_tolerance: {abs: 0}  # accuracy, F1, MCC, counts without their own (default: exact)
//!   entries:
//!     - task: spam                # task, variant, seed (and sweep) identify the run
//!       variant: baseline
//!       seed: 1
//!       sweep: {train.lr: 2e-5}   # only for specs with a sweep
//!       key: "3f1c0a9e5b7d2c4e"   # run key when recorded (a different key is reported, not failed)
//!       metrics:                  # final metrics: `name` on the dev split, else `split/name`
//!         acc: 0.8125
//!         loss: {value: 0.4513, tolerance: {rel: 1e-6}}
//! groups:                         # one entry per task, variant (and sweep point), across seeds
//!   tolerance: {abs: 1e-9, std_errors: 3}   # default for the means
//!   std_tolerance: {rel: 0.5}     # default for the standard deviations; absent = not checked
//!   entries:
//!     - task: spam
//!       variant: cross_head
//!       metrics:
//!         acc: {mean: 0.8, std: 0.012, n: 5}          # std with ddof = 1; absent when n = 1
//!         f1: {mean: 0.7, std: 0.03, n: 5, tolerance: {abs: 0.05}, std_tolerance: {abs: 0.02}}
//! ```
//!
//! Either section may be left out, not both. Unknown fields, wrong types, negative or missing
//! tolerances are rejected with `FILE:LINE:COLUMN: field: message`.
//!
//! Tolerances (see [`tolerance`]): `abs: a` allows |actual − expected| ≤ a; `rel: r` allows
//! r·|expected|; `std_errors: k` (group means only) allows k·s·sqrt(1/n_expected + 1/n_actual)
//! with the recorded std s. With several parts the largest allowance applies. `abs: 0` is exact.
//!
//! What is checked: for a run entry, the run (matched by task, variant, seed and sweep point;
//! among several such runs, the one with the recorded key, else the done run that finished
//! last) must be `done` and every listed metric within tolerance. For a group entry, the done
//! runs of that task, variant and sweep point: their number must equal `n`, their mean must be
//! within the tolerance, and their std within `std_tolerance` when one applies. Results the file
//! does not mention (other runs, other metrics) are listed as notes and do not fail the check.
//! The majority-class rows (`majority_*`) are data, not results, and are never recorded.
//!
//! Verdicts: `pass`; `worse` (moved beyond the tolerance in the metric's worse direction, from
//! [`crate::analysis::direction`], or not a finite number); `better` (moved beyond the tolerance
//! in the better direction; a standard deviation is better lower); `changed` (moved, no known
//! better direction, or more done runs than `n`); `missing` (the run is absent or not done, or
//! it has no such metric, or a group has fewer done runs than `n`). Every verdict but `pass`
//! fails, `better` included: the point is to notice results that moved, and a change that
//! improves them is recorded with `--update` in the same commit. `--allow-better` lets
//! improvements pass.
//!
//! In `runs`, results are float (losses, bits per character, perplexity, correlations of
//! predicted scores: they move in their last bits with the CPU's kernels) or discrete (accuracy,
//! F1 and MCC computed from predicted classes, and counts: they move only when a prediction
//! flips, see [`crate::analysis::is_discrete`]). `tolerance` applies to float results; discrete
//! ones are exact unless `discrete_tolerance` or their own tolerance says otherwise, and a moved
//! one says how many predictions flipped (from the `examples` count of its split). In `groups`,
//! `tolerance` applies to every mean.
//!
//! `recorded_on` says where the expectations were recorded; a check whose runs ran elsewhere
//! (another CPU, kernel level, libtorch, thread count, device or kernel variables) prints
//! `machine: recorded on …; running on … (differs: …)`, and a failure on the same machine says
//! that the change, not the machine, moved the results.
//!
//! `--update` writes entries for the done runs (and groups) of the experiment, keeping the old
//! file's header comments, section tolerances and per-metric tolerances, and rewriting
//! `recorded_on` from the runs. A run that is not done
//! keeps its old entry; an entry whose run is no longer in the experiment is dropped. New
//! sections get the tolerances [`update::DEFAULT_RUN_TOLERANCE`] (abs 1e-7 | rel 1e-6) and
//! [`update::DEFAULT_GROUP_TOLERANCE`] (abs 1e-9 or 3 standard errors). `--record` chooses the
//! sections (default: those the file has, or `runs` for a new file). It prints one line per
//! change (`+` added, `-` removed, `~` changed, with old → new and the difference).
//!
//! # Determinism: what is exact where
//!
//! On CPU with a fixed `threads` in the spec, a run is a pure function of its key: the seeded
//! streams fix initialisation, data order, dropout and cross-head draws, and a fixed number of
//! intra-op threads fixes the order of every floating-point reduction, so two runs on the same
//! machine and libtorch build give bit-identical results. Across CPU models, metrics computed
//! from counts (accuracy, F1, MCC) stay exact as long as no prediction flips, while float
//! results differ in the last bits where ATen or MKL choose other kernels (AVX2 vs AVX-512) with
//! another summation order: by at most 2.3e-8 relative on the smoke experiments
//! (bench/kernel_variation.sh), which the default `rel: 1e-6` absorbs.
//! On GPU nothing is bit-exact by default: cuBLAS and cuDNN choose algorithms by heuristics and
//! some backward kernels accumulate with atomics, so runs differ from each other and from CPU
//! runs, and the differences grow with the number of steps. Record GPU expectations as groups
//! (mean and std over seeds, checked with `std_errors`, and `std_tolerance` for the spread),
//! and keep exact per-run expectations for CPU runs.
//!
//! # JSON output (`--format json`)
//!
//! ```json
//! {"experiment": "ci_smoke", "expected_file": "results/expected/ci_smoke.yaml",
//!  "db": "results/harness.db", "allow_better": false, "passed": false,
//!  "counts": {"pass": 23, "better": 0, "worse": 1, "changed": 0, "missing": 0},
//!  "checks": [{"kind": "run", "entry": "spam/baseline seed 1", "task": "spam",
//!              "variant": "baseline", "seed": 1, "sweep": {}, "run_key": "3f1c0a9e5b7d2c4e",
//!              "metric": "loss", "statistic": "value", "expected": 0.4513, "actual": 0.4602,
//!              "difference": 0.0089, "allowed": 1e-9, "tolerance": {"abs": 1e-9},
//!              "direction": "lower", "verdict": "worse", "note": null}],
//!  "problems": ["spam/baseline seed 1: loss moved from 0.4513 to 0.4602 (+0.0089, worse: lower is better), beyond the tolerance abs 1e-9"],
//!  "notes": [],
//!  "recorded_on": {"cpu": "AMD EPYC", "cpu_capability": "AVX512", "libtorch": "2.11.0+cu130",
//!                  "threads": "1", "device": "cpu", "kernel_env": null},
//!  "running_on": {…the same fields…},
//!  "machine_differences": ["cpu_capability AVX512 → AVX2"],
//!  "machine": "machine: recorded on …; running on … (differs: …). …"}
//! ```
//! `kind` is `run` or `group`; `statistic` is `value` (runs), `mean`, `std` or `n` (groups);
//! `seed` and `run_key` are `null` for groups; `actual`, `difference` and `allowed` are `null`
//! when missing or not finite; `direction` is `higher`, `lower` or `null`; `verdict` is one of
//! `pass`, `better`, `worse`, `changed`, `missing`; `note` says how many predictions flipped
//! for a moved discrete result. `recorded_on` is `null` for files without it; `machine` is
//! `null` when there is nothing to say. Fields are only ever added.

pub mod expected;
pub mod recorded;
pub mod render;
pub mod tolerance;
pub mod update;
pub mod verify;

pub use expected::{parse, ExpectedFile, FileError};
pub use recorded::RecordedOn;
pub use tolerance::{Tolerance, Verdict};
pub use update::Record;
pub use verify::{verify, Check, Outcome};

use crate::store::{ResultRow, RunRow, Store, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    #[error("no results database at {}; `harness run SPEC` creates it (or pass --db PATH)", .0.display())]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
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
            CheckError::NoDatabase(_) => crate::exit::FAILURE,
            CheckError::Store(StoreError::UnknownExperiment(_)) => crate::exit::BAD_INPUT,
            CheckError::Store(_) | CheckError::Write { .. } => crate::exit::FAILURE,
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

/// The runs of an experiment, their final results by run key, and where the done runs ran.
type Stored = (Vec<RunRow>, HashMap<String, Vec<ResultRow>>, RecordedOn);

fn load_experiment(db: &Path, experiment: &str) -> Result<Stored, CheckError> {
    if !crate::store::exists(db) {
        return Err(CheckError::NoDatabase(db.to_path_buf()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CheckError::Store(StoreError::Sql(sqlx::Error::Io(e))))?;
    rt.block_on(async {
        let store = Store::open_read_only(db).await?;
        store.experiment(experiment).await?;
        let runs = store.runs(experiment).await?;
        let mut results: HashMap<String, Vec<ResultRow>> = HashMap::new();
        for (key, row) in store.results(experiment).await? {
            results.entry(key).or_default().push(row);
        }
        let done: std::collections::HashSet<&str> = runs
            .iter()
            .filter(|r| r.status == crate::store::RunStatus::Done.as_str())
            .map(|r| r.run_key.as_str())
            .collect();
        let environments = store.environments(experiment).await?;
        let running_on = RecordedOn::of_runs(
            environments
                .iter()
                .filter(|(key, _)| done.contains(key.as_str()))
                .filter_map(|(_, env)| env.as_deref()),
        );
        store.close().await;
        Ok((runs, results, running_on))
    })
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
    let (runs, results, running_on) = load_experiment(&args.db, &args.experiment)?;
    if args.update {
        return write_update(args, old.as_ref(), &runs, &results, running_on);
    }
    let file = old.expect("read above");
    let outcome = verify(&file, &args.experiment, &runs, &results, &running_on);
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
    if !runs
        .iter()
        .any(|r| r.status == crate::store::RunStatus::Done.as_str())
    {
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
    if let Some(dir) = args.expected.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CheckError::Write {
            path: args.expected.clone(),
            source,
        })?;
    }
    std::fs::write(&args.expected, &text).map_err(|source| CheckError::Write {
        path: args.expected.clone(),
        source,
    })?;
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
