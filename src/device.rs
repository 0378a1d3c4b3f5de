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
                unsafe { CStr::from_ptr(err) }.to_string_lossy().into_owned()
            };
            Err(msg)
        } else {
            Ok(())
        }
    })
}
