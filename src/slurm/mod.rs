//! `harness slurm submit`: register a grid in the database, then submit a Slurm job array of
//! `harness worker`s for what is left of it. Submitting again tops the workers up: it counts the
//! unfinished runs in the store and the workers Slurm still has pending or running for the
//! experiment (by job name) and submits only the difference.
//!
//! The queue lives in the database, never in Slurm's state: a worker that is preempted, timed out
//! or requeued releases its run (on the signal) or loses its lease, and the run is claimed again.

pub mod cluster;
pub mod runpath;
pub mod script;
pub mod topup;

use crate::cli::SpecArgs;
use anyhow::{bail, Context, Result};
use script::ScriptSpec;
use std::path::{Path, PathBuf};

/// Arguments of `harness slurm submit`.
#[derive(Debug, Clone, clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// The results database the workers share: postgres://USER@HOST:PORT/DB (or a SQLite path
    /// with --allow-sqlite)
    #[arg(long, value_name = "URL", env = crate::store::DB_ENV)]
    pub db: String,
    /// Workers (array tasks) wanted; a later submit tops them up to this number
    #[arg(long, value_name = "N")]
    pub workers: usize,
    /// At most K workers at once (the array's %K)
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<usize>,
    /// Time limit of each worker (sbatch --time: minutes, H:M:S, D-H:M:S, ...)
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// Slurm partition
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// GPUs per worker
    #[arg(long, value_name = "G")]
    pub gpus_per_task: Option<u32>,
    /// CPUs per worker (also the worker's --threads unless given)
    #[arg(long, value_name = "C")]
    pub cpus_per_task: Option<u32>,
    /// Memory per node (sbatch --mem, e.g. 16G)
    #[arg(long, value_name = "M")]
    pub mem: Option<String>,
    /// More sbatch options, appended as #SBATCH lines (repeatable; e.g. '--qos=high --account=proj')
    #[arg(long, value_name = "OPTIONS", allow_hyphen_values = true)]
    pub extra_sbatch: Vec<String>,
    /// The worker gets SIGUSR2 this long before the time limit, to checkpoint and release its run
    #[arg(long, value_name = "DURATION", default_value = "120s")]
    pub signal_before: String,
    /// Where the script and the per-task output files go [default: slurm/<experiment>]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Let several workers share a SQLite database (unsafe on a shared filesystem)
    #[arg(long)]
    pub allow_sqlite: bool,
    /// Print the script for --workers workers; register nothing, submit nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Worker: auto | cpu | cuda | cuda:N
    #[arg(long)]
    pub device: Option<String>,
    /// Worker: how long a claimed run stays its own without renewal (e.g. 120s)
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    /// Worker: stop after this many runs
    #[arg(long, value_name = "N")]
    pub max_runs: Option<usize>,
    /// Worker: exit after the queue has been empty this long
    #[arg(long, value_name = "DURATION")]
    pub idle_exit: Option<String>,
    /// Worker: a run whose lease expired this many times is marked failed
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub max_attempts: Option<i64>,
    /// Worker: checkpoints of language-model runs (on a filesystem every node sees)
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Worker: intra-op threads [default: --cpus-per-task]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// What `--db` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Postgres(String),
    /// A SQLite file, absolute.
    Sqlite(PathBuf),
}

impl Database {
    /// The `--db` value, with a relative SQLite path made absolute against `cwd`.
    pub fn parse(db: &str, cwd: &Path) -> Database {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Database::Postgres(db.to_string());
        }
        let path = db.strip_prefix("sqlite://").unwrap_or(db);
        let path = Path::new(path);
        Database::Sqlite(if path.is_absolute() {
            path.to_path_buf()
        } else {
            cwd.join(path)
        })
    }

    /// As the worker's `--db` takes it.
    pub fn arg(&self) -> String {
        match self {
            Database::Postgres(url) => url.clone(),
            Database::Sqlite(path) => path.to_string_lossy().into_owned(),
        }
    }
}

/// Several workers may land on several nodes: SQLite there needs --allow-sqlite.
pub fn check_database(db: &Database, workers: usize, allow_sqlite: bool) -> Result<Option<String>> {
    let Database::Sqlite(path) = db else {
        return Ok(None);
    };
    let warning = format!(
        "warning: {} is a SQLite database; SQLite on a shared filesystem (NFS, Lustre, GPFS) is \
         unsafe with workers on several nodes (\"database is locked\", lost or corrupted writes). \
         Use PostgreSQL (--db postgres://USER@HOST:PORT/DB) for more than one node",
        path.display()
    );
    if workers > 1 && !allow_sqlite {
        bail!(
            "--db {} is SQLite and --workers {workers} may put workers on several nodes: SQLite on a \
             shared filesystem is unsafe. Give a PostgreSQL database (--db \
             postgres://USER@HOST:PORT/DB; scripts/postgres-local.sh start prints one for a local \
             test), or pass --allow-sqlite if every worker runs on this one node",
            path.display()
        );
    }
    Ok(Some(warning))
}

/// The Slurm job name of an experiment's workers; top-ups count workers by it.
pub fn job_name(experiment: &str) -> String {
    format!("harness-{experiment}")
}

/// Options checked before anything is written or submitted.
struct Checked {
    signal_before_s: u32,
    extra: Vec<String>,
}

fn check_options(a: &SubmitArgs) -> Result<Checked> {
    if a.workers == 0 {
        bail!("--workers 0: give the number of workers (Slurm array tasks) wanted, at least 1");
    }
    if a.max_parallel == Some(0) {
        bail!("--max-parallel 0: give at least 1, or leave it out for no limit");
    }
    let signal_before_s = crate::worker::parse_duration(&a.signal_before)
        .ok()
        .map(|d| d.as_secs_f64().ceil() as u64)
        .filter(|s| (1..=65535).contains(s))
        .with_context(|| {
            format!(
                "--signal-before `{}`: give 1 s to 65535 s, e.g. 120s or 5m",
                a.signal_before
            )
        })? as u32;
    if let Some(time) = &a.time {
        if let Some(limit) = script::parse_time_limit(time).map_err(anyhow::Error::msg)? {
            if limit <= u64::from(signal_before_s) {
                bail!(
                    "--time {time} ({limit} s) is not longer than --signal-before {} ({signal_before_s} s): \
                     the worker would be told to stop as it starts. Give a longer --time or a \
                     shorter --signal-before",
                    a.signal_before
                );
            }
        }
    }
    for (flag, value) in [("--lease", &a.lease), ("--idle-exit", &a.idle_exit)] {
        if let Some(v) = value {
            if let Err(e) = crate::worker::parse_duration(v) {
                bail!("{flag} {e}");
            }
        }
    }
    if let Some(d) = &a.device {
        if crate::device::resolve_name(d).is_err() {
            bail!("--device `{d}` is not one of: auto, cpu, cuda, cuda:N");
        }
    }
    let mut extra = Vec::new();
    for value in &a.extra_sbatch {
        extra.extend(script::extra_lines(value).map_err(anyhow::Error::msg)?);
    }
    Ok(Checked {
        signal_before_s,
        extra,
    })
}

/// The worker's command line, the absolute path of the harness binary first.
pub fn worker_command(
    harness: &Path,
    experiment: &str,
    db: &Database,
    a: &SubmitArgs,
    cwd: &Path,
) -> Vec<String> {
    let mut argv = vec![
        harness.to_string_lossy().into_owned(),
        "worker".into(),
        experiment.into(),
        "--db".into(),
        db.arg(),
    ];
    let mut opt = |flag: &str, value: Option<String>| {
        if let Some(v) = value {
            argv.push(flag.into());
            argv.push(v);
        }
    };
    opt("--device", a.device.clone());
    opt("--lease", a.lease.clone());
    opt("--max-runs", a.max_runs.map(|n| n.to_string()));
    opt("--idle-exit", a.idle_exit.clone());
    opt("--max-attempts", a.max_attempts.map(|n| n.to_string()));
    opt(
        "--checkpoint-dir",
        a.checkpoint_dir
            .as_ref()
            .map(|d| cwd.join(d).to_string_lossy().into_owned()),
    );
    opt(
        "--threads",
        a.threads
            .or(a.cpus_per_task.map(|c| c as usize))
            .map(|n| n.to_string()),
    );
    argv
}

/// What `harness slurm submit` did, for the user.
#[derive(Debug)]
pub struct Submitted {
    /// Lines to print on stderr.
    pub report: Vec<String>,
    /// The script, for --dry-run (printed on stdout).
    pub dry_run_script: Option<String>,
}

/// `harness slurm submit`.
pub fn submit_command(a: &SubmitArgs) -> Result<Submitted> {
    let loaded = a.spec.load()?;
    let experiment = loaded.spec.name.clone();
    let checked = check_options(a)?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let db = Database::parse(&a.db, &cwd);
    let mut report = Vec::new();
    if let Some(warning) = check_database(&db, a.workers, a.allow_sqlite)? {
        report.push(warning);
    }
    let harness = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("finding the path of the harness binary")?;
    let runpath = runpath::elf_runpath(&harness).unwrap_or_default();
    let library_path =
        runpath::job_library_path(std::env::var("LD_LIBRARY_PATH").ok().as_deref(), &runpath);
    let output_dir = cwd.join(
        a.output_dir
            .clone()
            .unwrap_or_else(|| Path::new("slurm").join(&experiment)),
    );
    let job_name = job_name(&experiment);
    let script_for = |tasks: usize| {
        ScriptSpec {
        description: format!(
            "harness workers for experiment `{experiment}` ({}), written by `harness slurm submit` at {}",
            loaded.path.display(),
            crate::store::now()
        ),
        job_name: job_name.clone(),
        tasks,
        max_parallel: a.max_parallel,
        time: a.time.clone(),
        partition: a.partition.clone(),
        gpus_per_task: a.gpus_per_task,
        cpus_per_task: a.cpus_per_task,
        mem: a.mem.clone(),
        signal_before_s: checked.signal_before_s,
        output_dir: output_dir.clone(),
        workdir: cwd.clone(),
        library_path: library_path.clone(),
        extra_sbatch: checked.extra.clone(),
        command: worker_command(&harness, &experiment, &db, a, &cwd),
    }
    };
    if a.dry_run {
        report.push(format!(
            "dry run: nothing registered, nothing submitted. A real submit registers the grid in \
             {} and submits up to {} workers, less those already pending or running as `{job_name}`",
            crate::store::display_db(Path::new(&db.arg())),
            a.workers
        ));
        return Ok(Submitted {
            report,
            dry_run_script: Some(script::render(&script_for(a.workers))),
        });
    }

    cluster::require_clients()?;
    // Slurm first: a controller that does not answer leaves the database untouched.
    let active = cluster::active_workers(&job_name)?;
    let (registered, backlog) = cluster::register_and_count(&loaded, &db)?;
    report.push(registered);
    let plan = topup::plan(a.workers, backlog, active);
    if plan.submit == 0 {
        report.push(format!("nothing to do: {plan}"));
        return Ok(Submitted {
            report,
            dry_run_script: None,
        });
    }
    std::fs::create_dir_all(&output_dir).with_context(|| {
        format!(
            "creating {} for the script and the workers' output (or pass --output-dir DIR)",
            output_dir.display()
        )
    })?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let script_path = output_dir.join(format!("{job_name}-{stamp}.sbatch"));
    cluster::write_private(&script_path, &script::render(&script_for(plan.submit)))?;
    let job = cluster::sbatch(&script_path)?;
    report.push(format!(
        "{plan}: submitted {} worker{} as Slurm job {job} (`{job_name}`, script {}, output {}/{job_name}_{job}_<task>.out)",
        plan.submit,
        if plan.submit == 1 { "" } else { "s" },
        script_path.display(),
        output_dir.display()
    ));
    Ok(Submitted {
        report,
        dry_run_script: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        a: SubmitArgs,
    }

    fn args(extra: &[&str]) -> SubmitArgs {
        let mut argv = vec![
            "x",
            "grid.yaml",
            "--db",
            "postgres://h/db",
            "--workers",
            "3",
        ];
        argv.extend_from_slice(extra);
        Wrap::parse_from(argv).a
    }

    #[test]
    fn database_kinds() {
        let cwd = Path::new("/home/u/proj");
        assert_eq!(
            Database::parse("postgres://u@h:5/d", cwd),
            Database::Postgres("postgres://u@h:5/d".into())
        );
        assert_eq!(
            Database::parse("results/r.db", cwd),
            Database::Sqlite("/home/u/proj/results/r.db".into())
        );
        assert_eq!(
            Database::parse("sqlite:///abs/r.db", cwd),
            Database::Sqlite("/abs/r.db".into())
        );
    }

    #[test]
    fn sqlite_with_several_workers_needs_allow_sqlite() {
        let pg = Database::Postgres("postgres://h/d".into());
        assert_eq!(check_database(&pg, 8, false).unwrap(), None);
        let lite = Database::Sqlite("/scratch/r.db".into());
        let err = check_database(&lite, 2, false).unwrap_err().to_string();
        assert!(
            err.contains("postgres://") && err.contains("--allow-sqlite"),
            "{err}"
        );
        let warning = check_database(&lite, 2, true).unwrap().unwrap();
        assert!(warning.contains("unsafe"), "{warning}");
        // One worker is one writer: allowed, still warned about.
        assert!(check_database(&lite, 1, false).unwrap().is_some());
    }

    #[test]
    fn the_worker_command_line_carries_the_worker_options() {
        let a = args(&[
            "--cpus-per-task",
            "4",
            "--lease",
            "90s",
            "--idle-exit",
            "30s",
            "--max-attempts",
            "2",
            "--checkpoint-dir",
            "ckpt",
            "--device",
            "cuda",
        ]);
        let db = Database::Postgres("postgres://h/db".into());
        let argv = worker_command(Path::new("/opt/h"), "grid", &db, &a, Path::new("/p"));
        assert_eq!(
            argv.join(" "),
            "/opt/h worker grid --db postgres://h/db --device cuda --lease 90s --idle-exit 30s \
             --max-attempts 2 --checkpoint-dir /p/ckpt --threads 4"
        );
        let a = args(&["--cpus-per-task", "4", "--threads", "2", "--max-runs", "5"]);
        let argv = worker_command(Path::new("/opt/h"), "grid", &db, &a, Path::new("/p"));
        assert_eq!(argv[5..].join(" "), "--max-runs 5 --threads 2", "{argv:?}");
    }

    #[test]
    fn bad_options_are_refused_before_anything_happens() {
        let msg = |extra: &[&str]| check_options(&args(extra)).err().unwrap().to_string();
        assert!(msg(&["--time", "2", "--signal-before", "180s"]).contains("not longer than"));
        assert!(msg(&["--time", "2h"]).contains("not a Slurm time limit"));
        assert!(msg(&["--signal-before", "soon"]).contains("--signal-before"));
        assert!(msg(&["--lease", "forever"]).contains("--lease"));
        assert!(msg(&["--device", "tpu"]).contains("--device"));
        assert!(msg(&["--extra-sbatch", "qos=high"]).contains("not an sbatch option"));
        assert!(msg(&["--max-parallel", "0"]).contains("--max-parallel"));
        let ok = check_options(&args(&[
            "--time",
            "10",
            "--extra-sbatch",
            "--qos=high",
            "--extra-sbatch",
            "-A proj",
        ]))
        .unwrap();
        assert_eq!(ok.signal_before_s, 120);
        assert_eq!(ok.extra, ["#SBATCH --qos=high", "#SBATCH -A proj"]);
    }
}
