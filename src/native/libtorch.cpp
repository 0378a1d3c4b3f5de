// What harness needs of libtorch that the tch crate does not expose: autocast to bfloat16 on a
// chosen device type and CUDA's TF32 matmul mode (for `train.precision`), and the caching
// allocator's peak of allocated bytes (max_memory_allocated). Plain C entry points, wrapped
// safely in src/native.rs; compiled by build.rs.
#include <ATen/Context.h>
#include <ATen/DeviceAccelerator.h>
#include <ATen/autocast_mode.h>

namespace {
at::DeviceType device_type(int cuda) { return cuda ? at::kCUDA : at::kCPU; }
}  // namespace

extern "C" {

// Turns autocast to bfloat16 on (for this thread) on the CPU (cuda = 0) or CUDA (cuda = 1);
// returns whether it was on before.
bool harness_autocast_bf16_enter(int cuda) {
  const auto type = device_type(cuda);
  const bool was = at::autocast::is_autocast_enabled(type);
  at::autocast::set_autocast_enabled(type, true);
  at::autocast::set_autocast_dtype(type, at::kBFloat16);
  at::autocast::increment_nesting();
  return was;
}

// Restores the state `harness_autocast_bf16_enter` found, dropping the cast-weight cache when
// the outermost region ends (as torch.autocast's exit does).
void harness_autocast_exit(int cuda, bool was) {
  at::autocast::set_autocast_enabled(device_type(cuda), was);
  if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
}

bool harness_autocast_enabled(int cuda) {
  return at::autocast::is_autocast_enabled(device_type(cuda));
}

// CUDA matmuls (cuBLAS) and convolutions (cuDNN) in TF32 (on) or full fp32 (off).
void harness_cuda_tf32(bool on) {
  const auto p = on ? at::Float32Precision::TF32 : at::Float32Precision::IEEE;
  at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL, p);
  at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV, p);
}

bool harness_cuda_tf32_enabled() {
  return at::globalContext().float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL) ==
         at::Float32Precision::TF32;
}

// Peak bytes allocated on accelerator device `index` since the last reset (-1 where there is
// no accelerator, e.g. a CPU-only libtorch).
int64_t harness_device_peak_allocated(int index) {
  try {
    const auto stats = at::accelerator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
        .peak;
  } catch (...) {
    return -1;
  }
}

// Starts the peak of `harness_device_peak_allocated` afresh; false where there is no accelerator.
bool harness_device_reset_peak(int index) {
  try {
    at::accelerator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
    return true;
  } catch (...) {
    return false;
  }
}

}  // extern "C"
