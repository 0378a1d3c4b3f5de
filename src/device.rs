//! CPU/CUDA selection. CUDA is enabled at run time by loading `libtorch_cuda.so` before any
//! tch call asks about CUDA (see BUILD.md); where that fails, everything runs on CPU.

use std::ffi::CStr;
use std::sync::OnceLock;

static CUDA_LOAD: OnceLock<Result<(), String>> = OnceLock::new();

/// Loads libtorch's CUDA library into the process. Must run before the first tch call that
/// asks about CUDA; calling it again is free. Returns why CUDA is unavailable, if it is.
pub fn enable_cuda() -> &'static Result<(), String> {
    CUDA_LOAD.get_or_init(|| {
        let name = c"libtorch_cuda.so";
        // SAFETY: dlopen with a valid NUL-terminated name; the handle is deliberately kept open.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a thread-local C string or null.
            let err = unsafe { libc::dlerror() };
            let msg = if err.is_null() {
                "unknown dlopen error".to_string()
            } else {
                unsafe { CStr::from_ptr(err) }
                    .to_string_lossy()
                    .into_owned()
            };
            Err(msg)
        } else {
            Ok(())
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device `{0}` is not one of: auto, cpu, cuda, cuda:N")]
    Unknown(String),
    #[error("device `{requested}` asked for, but CUDA is not available ({why}). Use `--device cpu` or `--device auto`, or run on a machine with a CUDA build of libtorch (see README, \"GPU\")")]
    NoCuda { requested: String, why: String },
    #[error("device `{requested}` asked for, but only {count} CUDA device(s) are visible")]
    NoSuchGpu { requested: String, count: i64 },
}

/// Resolves `auto | cpu | cuda | cuda:N` to a tch device. `auto` takes the first GPU when CUDA is
/// available and the CPU otherwise.
pub fn resolve(requested: &str) -> Result<tch::Device, DeviceError> {
    let cuda_why = || match enable_cuda() {
        Ok(()) => "libtorch_cuda.so loaded, but no CUDA device is visible".to_string(),
        Err(e) => format!("libtorch_cuda.so could not be loaded: {e}"),
    };
    let count = || {
        let _ = enable_cuda();
        tch::Cuda::device_count()
    };
    match requested {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" => Ok(if count() > 0 {
            tch::Device::Cuda(0)
        } else {
            tch::Device::Cpu
        }),
        "cuda" | "cuda:0" if count() > 0 => Ok(tch::Device::Cuda(0)),
        "cuda" => Err(DeviceError::NoCuda {
            requested: requested.into(),
            why: cuda_why(),
        }),
        other => {
            let n: usize = other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| DeviceError::Unknown(other.into()))?;
            let c = count();
            if c == 0 {
                Err(DeviceError::NoCuda {
                    requested: other.into(),
                    why: cuda_why(),
                })
            } else if (n as i64) < c {
                Ok(tch::Device::Cuda(n))
            } else {
                Err(DeviceError::NoSuchGpu {
                    requested: other.into(),
                    count: c,
                })
            }
        }
    }
}

/// NVIDIA GPUs the kernel shows under `dev` (`/dev` normally): `nvidia0`, `nvidia1`, ...
pub fn visible_gpus_in(dev: &std::path::Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dev)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix("nvidia")
                .is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    found.sort();
    found
}

/// Why `auto` chose the CPU although the kernel shows GPUs (`visible`), or `None` where it
/// shows none or CUDA works: said loudly once per grid, since the run would otherwise be
/// silently an order of magnitude slower.
pub fn fallback_warning(visible: &[String], cuda: &Result<(), String>) -> Option<String> {
    if visible.is_empty() {
        return None;
    }
    let why = match cuda {
        Ok(()) => "libtorch_cuda.so is loaded but reports no CUDA device (driver or \
                   CUDA_VISIBLE_DEVICES?)"
            .to_string(),
        Err(e) => format!("libtorch_cuda.so could not be loaded: {e}"),
    };
    Some(format!(
        "WARNING: device auto runs on the CPU although this machine shows {} GPU(s) ({}): {why}. \
         Install the CUDA libraries with `scripts/setup.sh --cuda`, or point LD_LIBRARY_PATH at \
         a CUDA torch 2.11.0's lib folder (README, \"GPU\"); `--device cpu` silences this.",
        visible.len(),
        visible.join(", ")
    ))
}

/// [`fallback_warning`] for this machine and process, when `auto` resolved to `device`.
pub fn auto_fallback_warning(requested: &str, device: tch::Device) -> Option<String> {
    if requested != "auto" || device != tch::Device::Cpu {
        return None;
    }
    fallback_warning(
        &visible_gpus_in(std::path::Path::new("/dev")),
        enable_cuda(),
    )
}

/// Checks the spelling of a device name without asking libtorch anything.
pub fn resolve_name(requested: &str) -> Result<(), DeviceError> {
    match requested {
        "auto" | "cpu" | "cuda" => Ok(()),
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .map(|_| ())
            .ok_or_else(|| DeviceError::Unknown(other.into())),
    }
}

/// `cpu` or `cuda:N`, as recorded with every run.
pub fn label(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visible_gpu_without_cuda_is_said_loudly() {
        let dev = tempfile::tempdir().unwrap();
        assert!(visible_gpus_in(dev.path()).is_empty());
        for name in ["nvidia1", "nvidia0", "nvidiactl", "nvidia-uvm", "null"] {
            std::fs::write(dev.path().join(name), b"").unwrap();
        }
        let gpus = visible_gpus_in(dev.path());
        assert_eq!(gpus, ["nvidia0", "nvidia1"]);
        let w = fallback_warning(&gpus, &Err("libcudart.so.13: cannot open".into())).unwrap();
        assert!(
            w.contains("2 GPU(s) (nvidia0, nvidia1)")
                && w.contains("libcudart.so.13: cannot open")
                && w.contains("scripts/setup.sh --cuda"),
            "{w}"
        );
        assert!(fallback_warning(&[], &Err("x".into())).is_none());
        assert!(fallback_warning(&gpus, &Ok(()))
            .unwrap()
            .contains("no CUDA device"));
    }

    #[test]
    fn cpu_and_auto_resolve_without_a_gpu() {
        assert_eq!(resolve("cpu").unwrap(), tch::Device::Cpu);
        let auto = resolve("auto").unwrap();
        assert_eq!(auto == tch::Device::Cpu, tch::Cuda::device_count() == 0);
        assert!(matches!(resolve("tpu"), Err(DeviceError::Unknown(_))));
        assert!(matches!(resolve("cuda:x"), Err(DeviceError::Unknown(_))));
        if tch::Cuda::device_count() == 0 {
            let err = resolve("cuda").unwrap_err().to_string();
            assert!(err.contains("--device cpu"), "{err}");
        }
    }
}
