//! Safe wrappers of src/native/libtorch.cpp: the few libtorch calls harness needs that the tch
//! crate does not expose.

use tch::Device;

mod ffi {
    extern "C" {
        pub fn harness_autocast_bf16_enter(cuda: i32) -> bool;
        pub fn harness_autocast_exit(cuda: i32, was: bool);
        pub fn harness_autocast_enabled(cuda: i32) -> bool;
        pub fn harness_cuda_tf32(on: bool);
        pub fn harness_cuda_tf32_enabled() -> bool;
        pub fn harness_device_peak_allocated(index: i32) -> i64;
        pub fn harness_device_reset_peak(index: i32) -> bool;
    }
}

/// A region of autocast to bfloat16 on `device`'s type in this thread; dropping it restores
/// the state it found (nested regions included), and the outermost one drops autocast's cache
/// of cast weights.
pub struct Autocast {
    cuda: i32,
    was: bool,
}

impl Autocast {
    pub fn bf16(device: Device) -> Autocast {
        let cuda = i32::from(device.is_cuda());
        // SAFETY: toggles libtorch's thread-local autocast state; `Drop` restores it.
        let was = unsafe { ffi::harness_autocast_bf16_enter(cuda) };
        Autocast { cuda, was }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: restores the thread-local state `Autocast::bf16` found.
        unsafe { ffi::harness_autocast_exit(self.cuda, self.was) }
    }
}

/// Whether autocast is on in this thread for `device`'s type.
pub fn autocast_enabled(device: Device) -> bool {
    // SAFETY: reads libtorch's thread-local autocast state.
    unsafe { ffi::harness_autocast_enabled(i32::from(device.is_cuda())) }
}

/// CUDA matmuls and convolutions in TF32 (`true`) or full float32 (a process-wide setting).
pub fn set_cuda_tf32(on: bool) {
    // SAFETY: sets a flag of libtorch's global context.
    unsafe { ffi::harness_cuda_tf32(on) }
}

pub fn cuda_tf32() -> bool {
    // SAFETY: reads a flag of libtorch's global context.
    unsafe { ffi::harness_cuda_tf32_enabled() }
}

/// Peak bytes the caching allocator had allocated on a CUDA `device` since
/// [`reset_peak_allocated`] (`torch.cuda.max_memory_allocated`); `None` on the CPU or where
/// libtorch has no accelerator.
pub fn peak_allocated(device: Device) -> Option<i64> {
    let Device::Cuda(index) = device else {
        return None;
    };
    // SAFETY: reads allocator statistics; failures come back as -1.
    let peak = unsafe { ffi::harness_device_peak_allocated(index as i32) };
    (peak >= 0).then_some(peak)
}

/// Starts [`peak_allocated`] afresh on a CUDA `device`; nothing on the CPU.
pub fn reset_peak_allocated(device: Device) {
    if let Device::Cuda(index) = device {
        // SAFETY: resets allocator statistics; failures are reported as `false` and ignored
        // (then `peak_allocated` is `None` too).
        unsafe { ffi::harness_device_reset_peak(index as i32) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_has_no_allocator_peak() {
        reset_peak_allocated(Device::Cpu);
        assert_eq!(peak_allocated(Device::Cpu), None);
    }
}
