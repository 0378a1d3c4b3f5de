//! Facts about the process and machine recorded with every run: host, worker identity, git
//! revision, threads, peak memory.

use serde::{Deserialize, Serialize};

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

/// What libtorch itself says about the kernels it dispatches to. libtorch's C++ API returns
/// `std::string`; these two functions are called through their mangled names, with the string
/// (libstdc++'s C++11 layout) returned through a hidden pointer as the Itanium C++ ABI does.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod aten {
    use std::mem::MaybeUninit;

    /// libstdc++'s `std::string`: data pointer, length, then a 16-byte local buffer (or the
    /// capacity when the text lives on the heap).
    #[repr(C)]
    struct CxxString {
        ptr: *const u8,
        len: usize,
        local: [u8; 16],
    }

    extern "C" {
        /// `std::string at::get_cpu_capability()`: "DEFAULT", "AVX2", "AVX512", …
        #[link_name = "_ZN2at18get_cpu_capabilityB5cxx11Ev"]
        fn get_cpu_capability(out: *mut CxxString) -> *mut CxxString;
    }

    /// The ISA level ATen's CPU kernels dispatch to (`ATEN_CPU_CAPABILITY` can lower it).
    pub fn cpu_capability() -> Option<String> {
        let mut out = MaybeUninit::<CxxString>::uninit();
        // SAFETY: the function writes a valid std::string into `out` (sret); its text is read
        // once. A heap-allocated text (never for these short names) is leaked, not freed.
        let text = unsafe {
            get_cpu_capability(out.as_mut_ptr());
            let s = out.assume_init();
            std::slice::from_raw_parts(s.ptr, s.len).to_vec()
        };
        String::from_utf8(text).ok()
    }

    /// The folder of the libtorch_cpu.so this process loaded (`…/torch/lib`).
    pub fn library_dir() -> Option<std::path::PathBuf> {
        let mut info = MaybeUninit::<libc::Dl_info>::uninit();
        // SAFETY: dladdr only reads the address and fills `info`.
        let found =
            unsafe { libc::dladdr(get_cpu_capability as *const libc::c_void, info.as_mut_ptr()) };
        if found == 0 {
            return None;
        }
        // SAFETY: dladdr succeeded, so dli_fname is a NUL-terminated path.
        let name = unsafe { std::ffi::CStr::from_ptr(info.assume_init().dli_fname) };
        let path = std::path::PathBuf::from(name.to_str().ok()?);
        let path = path.canonicalize().unwrap_or(path);
        path.parent().map(|p| p.to_path_buf())
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod aten {
    pub fn cpu_capability() -> Option<String> {
        None
    }
    pub fn library_dir() -> Option<std::path::PathBuf> {
        None
    }
}

pub use aten::cpu_capability;

/// `__version__` of the torch installation whose libtorch this process runs on (read from
/// `version.py` next to the loaded library's folder), e.g. `2.11.0+cu130`.
fn libtorch_version() -> Option<String> {
    let root = aten::library_dir()?.parent()?.to_path_buf();
    let text = std::fs::read_to_string(root.join("version.py")).ok()?;
    text.lines()
        .find(|l| l.starts_with("__version__"))
        .and_then(|l| l.split('\'').nth(1))
        .map(String::from)
}

/// Environment variables that change which CPU kernels run (and so the last bits of results).
pub const KERNEL_VARIABLES: [&str; 5] = [
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "ONEDNN_MAX_CPU_ISA",
];

/// The kernel variables set in this process, by name.
fn kernel_variables() -> std::collections::BTreeMap<String, String> {
    KERNEL_VARIABLES
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// The machine a run ran on, stored with the run as JSON when it starts and read back (every
/// field optional there, for stores written before it was recorded).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Environment {
    pub host: String,
    pub os: String,
    pub cpu: Option<String>,
    pub logical_cpus: usize,
    pub threads: Option<i32>,
    pub harness_version: String,
    pub tch_version: String,
    pub libtorch: Option<String>,
    /// The ISA level of ATen's CPU kernels (`AVX512`, `AVX2`, `DEFAULT`).
    pub cpu_capability: Option<String>,
    /// Kernel-selecting environment variables that were set (`ATEN_CPU_CAPABILITY`, `MKL_CBWR`, …).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub kernel_env: std::collections::BTreeMap<String, String>,
    pub cuda_devices: i64,
    pub device: Option<String>,
    /// The precision the run trained in (`train.precision` resolved on `device`).
    pub precision: Option<crate::precision::Precision>,
}

impl Environment {
    pub fn capture(device: &str, precision: crate::precision::Precision) -> Environment {
        Environment {
            host: hostname(),
            os: std::env::consts::OS.to_string(),
            cpu: cpu_model(),
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: Some(tch::get_num_threads()),
            harness_version: env!("CARGO_PKG_VERSION").into(),
            tch_version: "0.24.0".into(),
            libtorch: libtorch_version(),
            cpu_capability: cpu_capability(),
            kernel_env: kernel_variables(),
            cuda_devices: tch::Cuda::device_count(),
            device: Some(device.to_string()),
            precision: Some(precision),
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
    fn libtorch_names_its_kernels_and_version() {
        let capability = cpu_capability().expect("a capability on x86-64 Linux");
        assert!(
            ["DEFAULT", "AVX2", "AVX512"].contains(&capability.as_str()),
            "{capability}"
        );
        // The library this test runs on is the pinned torch 2.11.0 of scripts/setup.sh.
        let version = libtorch_version().expect("version.py beside the loaded libtorch");
        assert!(version.starts_with("2.11.0"), "{version}");
    }

    #[test]
    fn peak_rss_is_reported() {
        let peak = peak_rss_bytes().unwrap();
        assert!(peak > 1024 * 1024, "{peak}");
    }
}
