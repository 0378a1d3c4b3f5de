//! Safe wrappers of src/native/libtorch.cpp: the few libtorch calls harness needs that the tch
//! crate does not expose.

use tch::{Device, Tensor};

mod ffi {
    extern "C" {
        pub fn harness_last_error() -> *const std::ffi::c_char;
        pub fn harness_dropout_mask(mask: *mut std::ffi::c_void, p: f64) -> bool;
        #[allow(clippy::too_many_arguments)]
        pub fn harness_fused_adamw(
            params: *const *mut std::ffi::c_void,
            grads: *const *mut std::ffi::c_void,
            exp_avgs: *const *mut std::ffi::c_void,
            exp_avg_sqs: *const *mut std::ffi::c_void,
            n: i32,
            step: f64,
            lr: f64,
            beta1: f64,
            beta2: f64,
            weight_decay: f64,
            eps: f64,
        ) -> bool;
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

fn last_error() -> String {
    // SAFETY: a NUL-terminated string owned by the shim's thread-local state.
    let message = unsafe { std::ffi::CStr::from_ptr(ffi::harness_last_error()) };
    message.to_string_lossy().into_owned()
}

/// Dropout with probability `p` in training, as `x.dropout(p, true)` computes it on the CPU, bit
/// for bit: `x` times [`dropout_mask`] of its shape. A non-contiguous `x` (whose mask libtorch
/// would draw in memory order) and CUDA (whose dropout is a fused kernel of its own) take
/// `x.dropout` itself.
pub fn dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if !train || p == 0.0 {
        return x.shallow_clone();
    }
    if x.device() != Device::Cpu || !x.is_contiguous() || !(0.0..1.0).contains(&p) {
        return x.dropout(p, train);
    }
    x * dropout_mask(&x.size(), p, x.kind())
}

/// The mask CPU dropout multiplies a contiguous tensor of `shape` by, for drop probability
/// `p` in [0, 1): `bernoulli_(1 − p)` then `div_(1 − p)`, as libtorch's dropout draws it from its
/// CPU generator. For float32 the shim draws it in one tight loop (the same draws, the same
/// values, several times faster than libtorch's per-element kernel); other kinds take
/// libtorch's own two operations.
pub fn dropout_mask(shape: &[i64], p: f64, kind: tch::Kind) -> Tensor {
    let mut mask = Tensor::empty(shape, (kind, Device::Cpu));
    if kind != tch::Kind::Float {
        return mask.bernoulli_float_(1.0 - p) / (1.0 - p);
    }
    // SAFETY: `mask` is a live tensor this function owns; the shim writes its elements only.
    let ok = unsafe { ffi::harness_dropout_mask(mask.as_mut_ptr() as *mut std::ffi::c_void, p) };
    assert!(ok, "dropout mask: {}", last_error());
    mask
}

/// The four lists of one fused AdamW update: parameters, their gradients, first and second
/// moments (same length, same device, float32).
pub struct AdamWLists<'a> {
    pub params: &'a [&'a Tensor],
    pub grads: &'a [&'a Tensor],
    pub exp_avgs: &'a [&'a Tensor],
    pub exp_avg_sqs: &'a [&'a Tensor],
}

/// AdamW's hyperparameters for [`fused_adamw`]; `step` is the update's count t.
#[derive(Debug, Clone, Copy)]
pub struct AdamWStep {
    pub step: i64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub eps: f64,
}

/// One AdamW update of every tensor in `lists` in libtorch's fused kernel
/// (`torch.optim.AdamW(fused=True)`): θ ← θ(1 − lr·λ); m ← lerp(m, g, 1 − β₁);
/// v ← β₂v + (1 − β₂)g²; θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε), tensors updated
/// in place. Fails with libtorch's message when it refuses the lists.
pub fn fused_adamw(lists: &AdamWLists, h: AdamWStep) -> Result<(), String> {
    let n = lists.params.len();
    assert!(
        [
            lists.grads.len(),
            lists.exp_avgs.len(),
            lists.exp_avg_sqs.len()
        ]
        .iter()
        .all(|&len| len == n),
        "fused_adamw: the four lists differ in length"
    );
    let handles = |ts: &[&Tensor]| -> Vec<*mut std::ffi::c_void> {
        ts.iter()
            .map(|t| t.as_ptr() as *mut std::ffi::c_void)
            .collect()
    };
    let (p, g, m, v) = (
        handles(lists.params),
        handles(lists.grads),
        handles(lists.exp_avgs),
        handles(lists.exp_avg_sqs),
    );
    // SAFETY: every handle is a live torch::Tensor* borrowed for the call; the kernel updates
    // the tensors in place (as tch's own in-place operations do) and keeps no reference.
    let ok = unsafe {
        ffi::harness_fused_adamw(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            n as i32,
            h.step as f64,
            h.lr,
            h.beta1,
            h.beta2,
            h.weight_decay,
            h.eps,
        )
    };
    if ok {
        Ok(())
    } else {
        Err(last_error())
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
