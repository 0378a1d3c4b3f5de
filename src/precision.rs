//! `train.precision`: the numerics a run trains in.
//!
//! - `fp32`: every operation in float32.
//! - `tf32`: float32 tensors, but CUDA matmuls and convolutions on TF32 tensor cores (10-bit
//!   mantissa products, float32 accumulation). A CUDA mode: on the CPU a run trains in fp32.
//! - `bf16`: automatic mixed precision. The forward pass runs under libtorch's autocast to
//!   bfloat16 (matmuls, linear layers and attention in bfloat16, the ops autocast keeps in
//!   float32 in float32); the loss is computed in float32, and the weights, their gradients
//!   and the optimizer state stay float32 (fp32 master weights). bfloat16 has float32's range,
//!   so no loss scaling is needed.
//!
//! Unset, a run uses fp32 on the CPU and tf32 on CUDA (PyTorch's own defaults differ by
//! version; this one is fixed). The two libtorch switches tch does not expose are in
//! src/native.rs.

use crate::native;
use serde::{Deserialize, Serialize};
use std::fmt;
use tch::Device;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Tf32,
    Bf16,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Tf32, Precision::Bf16];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        }
    }

    /// The precision a run on `device` trains in when its spec asks for `requested`, and why
    /// it differs from the request where it does (`tf32` on the CPU).
    pub fn resolve(requested: Option<Precision>, device: Device) -> (Precision, Option<String>) {
        let cuda = device.is_cuda();
        match requested {
            None if cuda => (Precision::Tf32, None),
            None => (Precision::Fp32, None),
            Some(Precision::Tf32) if !cuda => (
                Precision::Fp32,
                Some(
                    "train.precision tf32 is a CUDA matmul mode; this run is on the CPU, so it \
                     trains in fp32 (recorded as such)"
                        .to_string(),
                ),
            ),
            Some(p) => (p, None),
        }
    }

    /// [`Precision::resolve`], saying why on stderr the first time this process resolves a
    /// request differently (once, as the device fallback is said once).
    pub fn resolve_saying_once(requested: Option<Precision>, device: Device) -> Precision {
        static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let (precision, note) = Precision::resolve(requested, device);
        if let Some(note) = note {
            let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
            if !said.contains(&note) {
                eprintln!("note: {note}");
                said.push(note);
            }
        }
        precision
    }

    /// Sets the process-wide matmul mode this precision needs on `device`: TF32 on or off for
    /// CUDA (it stays on from one run to the next otherwise); nothing on the CPU.
    pub fn configure(self, device: Device) {
        if device.is_cuda() {
            native::set_cuda_tf32(self == Precision::Tf32);
        }
    }

    /// Runs `forward` under autocast to bfloat16 on `device`'s type for `bf16`, plainly
    /// otherwise. Autocast is per thread; backward passes run outside it, in the dtypes the
    /// forward pass recorded.
    pub fn autocast<T>(self, device: Device, forward: impl FnOnce() -> T) -> T {
        if self != Precision::Bf16 {
            return forward();
        }
        let _region = native::Autocast::bf16(device);
        forward()
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown precision `{s}`; allowed: fp32, tf32, bf16"))
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{autocast_enabled, cuda_tf32 as cuda_tf32_enabled};
    use tch::{Kind, Tensor};

    #[test]
    fn unset_means_fp32_on_the_cpu_and_tf32_on_cuda() {
        assert_eq!(
            Precision::resolve(None, Device::Cpu),
            (Precision::Fp32, None)
        );
        assert_eq!(
            Precision::resolve(None, Device::Cuda(0)),
            (Precision::Tf32, None)
        );
        let (p, note) = Precision::resolve(Some(Precision::Tf32), Device::Cpu);
        assert_eq!(p, Precision::Fp32);
        assert!(note.unwrap().contains("CUDA"));
        for p in Precision::ALL {
            assert_eq!(Precision::resolve(Some(p), Device::Cuda(1)).0, p);
        }
        assert_eq!(
            Precision::resolve(Some(Precision::Bf16), Device::Cpu).0,
            Precision::Bf16
        );
    }

    #[test]
    fn bf16_autocasts_the_forward_pass_and_restores_the_state() {
        let x = Tensor::ones([4, 8], (Kind::Float, Device::Cpu));
        let w = Tensor::ones([3, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        assert!(!autocast_enabled(Device::Cpu));
        let y = Precision::Bf16.autocast(Device::Cpu, || {
            assert!(autocast_enabled(Device::Cpu));
            // Nested regions restore the outer one's state.
            Precision::Bf16.autocast(Device::Cpu, || ());
            assert!(autocast_enabled(Device::Cpu));
            x.linear::<Tensor>(&w, None)
        });
        assert!(!autocast_enabled(Device::Cpu));
        assert_eq!(y.kind(), Kind::BFloat16);
        // Gradients reach the float32 weights in float32.
        y.to_kind(Kind::Float).sum(Kind::Float).backward();
        assert_eq!(w.grad().kind(), Kind::Float);
        assert_eq!(
            Vec::<f32>::try_from(w.grad().view([-1])).unwrap(),
            vec![4.0; 24]
        );
        for p in [Precision::Fp32, Precision::Tf32] {
            let y = p.autocast(Device::Cpu, || x.linear::<Tensor>(&w, None));
            assert_eq!(y.kind(), Kind::Float);
        }
    }

    #[test]
    fn tf32_switch_round_trips() {
        let before = cuda_tf32_enabled();
        Precision::Tf32.configure(Device::Cuda(0));
        assert!(cuda_tf32_enabled());
        Precision::Fp32.configure(Device::Cuda(0));
        assert!(!cuda_tf32_enabled());
        // The CPU leaves the CUDA flag alone.
        Precision::Tf32.configure(Device::Cpu);
        assert!(!cuda_tf32_enabled());
        if before {
            Precision::Tf32.configure(Device::Cuda(0));
        }
    }

    #[test]
    fn spelled_as_in_specs() {
        for p in Precision::ALL {
            let yaml = serde_yaml::to_string(&p).unwrap();
            assert_eq!(yaml.trim(), p.as_str());
            assert_eq!(serde_yaml::from_str::<Precision>(&yaml).unwrap(), p);
        }
        let e = serde_yaml::from_str::<Precision>("fp16")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fp32") && e.contains("bf16"), "{e}");
    }
}
