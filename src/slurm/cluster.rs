//! The outside world of `harness slurm submit`: Slurm's clients (sbatch, squeue) and the store.

use super::topup::{self, Backlog};
use super::Database;
use crate::spec::LoadedSpec;
use crate::store::{RunStatus, Store};
use anyhow::{bail, Context, Result};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `name` is on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// sbatch and squeue must be there before anything is written.
pub fn require_clients() -> Result<()> {
    for client in ["sbatch", "squeue"] {
        if on_path(client).is_none() {
            bail!(
                "Slurm's {client} is not on PATH; install slurm-client or run \
                 scripts/slurm-local.sh start for a local test cluster"
            );
        }
    }
    Ok(())
}

/// Registers the grid (the code of `harness enqueue`) and counts what is left of it.
pub fn register_and_count(loaded: &LoadedSpec, db: &Database) -> Result<(String, Backlog)> {
    let db = PathBuf::from(db.arg());
    let plans = crate::spec::expand(&loaded.spec);
    let (total, added) = crate::runner::enqueue(loaded, &plans, &db)?;
    let name = &loaded.spec.name;
    let rt = crate::runner::runtime()?;
    let rows = rt.block_on(async {
        let store = Store::open(&db).await?;
        let rows = store.runs(name).await;
        store.close().await;
        rows
    })?;
    let count = |s: RunStatus| rows.iter().filter(|r| r.status == s.as_str()).count() as u64;
    let backlog = Backlog {
        queued: count(RunStatus::Queued),
        running: count(RunStatus::Running),
    };
    let registered = format!(
        "experiment {name}: {total} runs in the grid ({added} new) registered in {}",
        crate::store::display_db(&db)
    );
    Ok((registered, backlog))
}

/// Array tasks of `job_name` (this user's) that Slurm still has pending or running.
pub fn active_workers(job_name: &str) -> Result<usize> {
    let out = Command::new("squeue")
        .args([
            "--me",
            "--noheader",
            "--array",
            "--name",
            job_name,
            "--states=PENDING,CONFIGURING,RUNNING,SUSPENDED,REQUEUED,REQUEUE_HOLD,REQUEUE_FED,RESIZING",
            "--format=%i",
        ])
        .output()
        .context("running squeue")?;
    if !out.status.success() {
        bail!(
            "squeue failed ({}), so nothing was registered or submitted; is the Slurm controller \
             up (`scontrol ping`)? {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(topup::count_tasks(&String::from_utf8_lossy(&out.stdout)))
}

/// Writes `text` readable by its owner only (the script holds the database URL).
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(path)
        .with_context(|| format!("writing the sbatch script {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing the sbatch script {}", path.display()))?;
    Ok(())
}

/// `sbatch --parsable SCRIPT`: the job id.
pub fn sbatch(script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .context("running sbatch")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "sbatch refused the job ({}): {}\nThe script is {}; fix the option it names (or \
             --extra-sbatch) and submit again",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            script.display()
        );
    }
    topup::parse_job_id(&stdout).with_context(|| {
        format!(
            "sbatch --parsable answered `{}`, not a job id; check `squeue --me` before submitting again",
            stdout.trim()
        )
    })
}
