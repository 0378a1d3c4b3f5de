//! Who a worker is (`host:pid:start`, host, Slurm job) and the durations its options take.

use std::time::Duration;

use crate::environment;
use crate::store::WorkerIdentity;

/// Parses `120s`, `2m`, `500ms`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write e.g. 120s, 2m, 500ms"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}`; use ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The identity this process claims runs under: `host:pid:start`, the host, and the Slurm job
/// (`SLURM_ARRAY_JOB_ID_SLURM_ARRAY_TASK_ID` for an array task, else `SLURM_JOB_ID`).
/// `HARNESS_WORKER_HOST` replaces the host name (containers that share one, and tests that
/// play several machines on one host: a worker of another "host" is never declared dead by
/// PID, only by its lease).
pub fn identity() -> WorkerIdentity {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let slurm_job = match (env("SLURM_ARRAY_JOB_ID"), env("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => env("SLURM_JOB_ID"),
    };
    let real = environment::hostname();
    let mut id = environment::worker_id();
    let host = match env("HARNESS_WORKER_HOST") {
        Some(h) => {
            id = format!("{h}{}", id.strip_prefix(real.as_str()).unwrap_or(&id));
            h
        }
        None => real,
    };
    WorkerIdentity {
        id,
        host,
        slurm_job,
    }
}
