//! Facts about the process and machine recorded with every run: host, worker identity, git
//! revision, threads, peak memory.

use serde::Serialize;
use std::path::Path;

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), which tells
/// a live process from a later one that reused its pid.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// `host:pid:start` of this process: names the worker that claimed a run.
pub fn worker_id() -> String {
    let pid = std::process::id();
    format!("{}:{}:{}", hostname(), pid, process_start(pid).unwrap_or(0))
}

/// Whether the worker that wrote `worker` is certainly gone: it ran on this host and its process
/// no longer exists (or the pid now belongs to another process). Workers on other hosts are
/// never declared dead here.
pub fn worker_is_dead(worker: &str) -> bool {
    let mut parts = worker.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return true;
    };
    if host != hostname() {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return true;
    };
    process_start(pid) != Some(start)
}

/// `git rev-parse HEAD` of the working directory, with `-dirty` when there are uncommitted
/// changes; `HARNESS_GIT_REV` overrides (for installs without a checkout).
pub fn git_revision() -> Option<String> {
    if let Ok(rev) = std::env::var("HARNESS_GIT_REV") {
        return Some(rev);
    }
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        rev.push_str("-dirty");
    }
    Some(rev)
}

/// Resets the kernel's peak-RSS counter of this process (VmHWM), so each run measures its own peak.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size of this process since the last reset, in bytes.
pub fn peak_rss_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
}

fn libtorch_version() -> Option<String> {
    let root = std::env::var("LIBTORCH").ok()?;
    let text = std::fs::read_to_string(Path::new(&root).join("version.py")).ok()?;
    text.lines()
        .find(|l| l.starts_with("__version__"))
        .and_then(|l| l.split('\'').nth(1))
        .map(String::from)
}

#[derive(Debug, Serialize)]
pub struct Environment {
    pub host: String,
    pub os: String,
    pub cpu: Option<String>,
    pub logical_cpus: usize,
    pub threads: i32,
    pub harness_version: &'static str,
    pub tch_version: &'static str,
    pub libtorch: Option<String>,
    pub cuda_devices: i64,
    pub device: String,
}

impl Environment {
    pub fn capture(device: &str) -> Environment {
        Environment {
            host: hostname(),
            os: std::env::consts::OS.to_string(),
            cpu: cpu_model(),
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: tch::get_num_threads(),
            harness_version: env!("CARGO_PKG_VERSION"),
            tch_version: "0.24.0",
            libtorch: libtorch_version(),
            cuda_devices: tch::Cuda::device_count(),
            device: device.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_worker_is_alive_and_a_gone_pid_is_dead() {
        let me = worker_id();
        assert!(!worker_is_dead(&me), "{me}");
        // Same pid, different start time: the pid was reused by another process.
        let pid = std::process::id();
        assert!(worker_is_dead(&format!("{}:{pid}:1", hostname())));
        // Another host: never declared dead from here.
        assert!(!worker_is_dead("some-other-host:1:1"));
        assert!(worker_is_dead("garbage"));
    }

    #[test]
    fn peak_rss_is_reported() {
        let peak = peak_rss_bytes().unwrap();
        assert!(peak > 1024 * 1024, "{peak}");
    }
}
