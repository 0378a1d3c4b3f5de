// What harness needs of libtorch that the tch crate does not expose: autocast to bfloat16 on a
// chosen device type and CUDA's TF32 matmul mode (for `train.precision`), the caching
// allocator's peak of allocated bytes (max_memory_allocated), the fused AdamW kernel
// (aten::_fused_adamw_, which tch does not bind because it takes lists of tensors), and
// dropout's keep mask drawn from the CPU generator as libtorch draws it, without its
// per-element overhead. Plain C entry points, wrapped safely in src/native.rs; compiled by
// build.rs.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/core/MT19937RNGEngine.h>
#include <ATen/DeviceAccelerator.h>
#include <ATen/autocast_mode.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/full.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {
at::DeviceType device_type(int cuda) { return cuda ? at::kCUDA : at::kCPU; }

thread_local std::string last_error;

// Writes the next `count` outputs of `engine` into `out`, exactly as `count` calls of
// engine() would. engine() refills its 624-word state when it runs out and tempers one word a
// call; here the words between two refills are tempered in one loop (the Mersenne Twister's
// tempering, Matsumoto & Nishimura 1998), and the refill is the engine's own.
void fill_words(at::mt19937& engine, uint32_t* out, int64_t count) {
  at::mt19937_data_pod d = engine.data();
  while (count > 0) {
    if (d.left_ == 1) {  // this call refills the state
      engine.set_data(d);
      *out++ = engine();
      --count;
      d = engine.data();
      continue;
    }
    const int64_t take = std::min<int64_t>(count, d.left_ - 1);
    const uint32_t* words = d.state_.data() + d.next_;
    for (int64_t i = 0; i < take; ++i) {
      uint32_t y = words[i];
      y ^= (y >> 11);
      y ^= (y << 7) & 0x9d2c5680u;
      y ^= (y << 15) & 0xefc60000u;
      y ^= (y >> 18);
      out[i] = y;
    }
    out += take;
    count -= take;
    d.left_ -= static_cast<int>(take);
    d.next_ += static_cast<uint32_t>(take);
  }
  engine.set_data(d);
}

std::vector<at::Tensor> list(at::Tensor* const* tensors, int n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(*tensors[i]);
  return out;
}
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

// The message of the last failed call of this thread (empty when none failed).
const char* harness_last_error() { return last_error.c_str(); }

// One AdamW update (decoupled weight decay, no amsgrad) of `n` parameters with their gradients
// and first and second moments, `step` the update's count t (bias corrections 1 - beta^t), in
// one pass over each tensor. The tensors are tch's handles (torch::Tensor*). Returns false,
// with harness_last_error() saying why, when libtorch refuses (e.g. tensors on several devices).
bool harness_fused_adamw(at::Tensor* const* params, at::Tensor* const* grads,
                         at::Tensor* const* exp_avgs, at::Tensor* const* exp_avg_sqs, int n,
                         double step, double lr, double beta1, double beta2, double weight_decay,
                         double eps) {
  if (n == 0) return true;
  try {
    const auto t = at::full({}, step, params[0]->options().dtype(at::kFloat));
    const std::vector<at::Tensor> steps(static_cast<size_t>(n), t);
    at::_fused_adamw_(list(params, n), list(grads, n), list(exp_avgs, n), list(exp_avg_sqs, n),
                      {}, steps, lr, beta1, beta2, weight_decay, eps, /*amsgrad=*/false,
                      /*maximize=*/false);
    return true;
  } catch (const std::exception& e) {
    last_error = e.what();
    return false;
  }
}

// Fills `mask` (a contiguous float32 CPU tensor) with dropout's scaled keep mask for drop
// probability p: 1/(1 - p) where kept, 0 where dropped. The draws are those of
// `mask.bernoulli_(1 - p)` on the default CPU generator (libtorch's CPU kernel: one
// bernoulli_distribution<double> per element, in order) and the values those of its
// `div_(1 - p)`, so `x * mask` is bit for bit `dropout(x, p, train=true)` and the generator is
// left where dropout leaves it. Returns false, with harness_last_error() saying why, for
// another kind of tensor.
bool harness_dropout_mask(at::Tensor* mask, double p) {
  try {
    TORCH_CHECK(mask->device().is_cpu() && mask->scalar_type() == at::kFloat &&
                    mask->is_contiguous(),
                "dropout_mask needs a contiguous float32 CPU tensor");
    TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
    auto* generator = at::check_generator<at::CPUGeneratorImpl>(at::detail::getDefaultCPUGenerator());
    // bernoulli_distribution<double>(1 - p) keeps an element when u < 1 - p, u the low 53 bits
    // x of random64() (two engine outputs, the first the high half) times 2^-53: x < ceil((1 -
    // p) 2^53), in integers.
    const uint64_t threshold = static_cast<uint64_t>(std::ceil(std::ldexp(1.0 - p, 53)));
    const uint64_t low53 = (uint64_t{1} << 53) - 1;
    const float scale = 1.0f / static_cast<float>(1.0 - p);
    float* out = mask->data_ptr<float>();
    const int64_t n = mask->numel();
    constexpr int64_t chunk = 2048;
    uint32_t words[2 * chunk];
    std::lock_guard<std::mutex> lock(generator->mutex_);
    at::mt19937 engine = generator->engine();
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t len = std::min(chunk, n - begin);
      fill_words(engine, words, 2 * len);
      for (int64_t i = 0; i < len; ++i) {
        const uint64_t x = ((static_cast<uint64_t>(words[2 * i]) << 32) | words[2 * i + 1]) & low53;
        out[begin + i] = x < threshold ? scale : 0.0f;
      }
    }
    generator->set_engine(engine);
    return true;
  } catch (const std::exception& e) {
    last_error = e.what();
    return false;
  }
}

}  // extern "C"
