#include "quantlab/quant/bnb_4bit.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/quant/bnb_gpu_math.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace quantlab::bnb {
namespace {

// Written as bitsandbytes writes them in CUDA: float literals, each rounded once from the decimal.
constexpr float kNf4Values[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
// FP4 (1 sign, 2 exponent, 1 mantissa bit, bias 3, normalized by its max 12), by the 3 low bits.
constexpr float kFp4Magnitudes[8] = {0.0f, 0.005208333333f, 0.66666667f, 1.0f,
                                     0.33333333f, 0.5f, 0.16666667f, 0.25f};

// The same NF4 values as Python floats (doubles), which torch.tensor rounds to float32: the file's
// quant_map. A few differ from the CUDA table in the last bit.
constexpr double kNf4Doubles[16] = {
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};
// bitsandbytes writes the negative zero as the Python integer -0, which is +0.
constexpr float kFp4Raw[16] = {0, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f,
                               0.0f, -0.0625f, -8.0f, -12.0f, -4.0f, -6.0f, -2.0f, -3.0f};

void check_finite(const float* w, int64_t n, const std::string& source) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(w[i]))
      throw Error(source, "value " + std::to_string(i), "is not finite; bitsandbytes formats cannot encode it");
}

void check_spec(const Spec4bit& spec, const std::string& source) {
  const int64_t bs = spec.block_size;
  if (bs < 32 || bs > 4096 || (bs & (bs - 1)) != 0)
    throw Error(source, "blocksize", "must be one of 32, 64, 128, 256, 512, 1024, 2048, 4096; got " + std::to_string(bs));
}

Quantized4bit quantize_impl(const float* w, std::vector<int64_t> shape, const Spec4bit& spec, SourceDtype dtype,
                            const float* given_offset, const std::string& source) {
  check_spec(spec, source);
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0) throw Error(source, "shape", "dimensions must be positive");
    n *= d;
  }
  if (shape.empty()) throw Error(source, "shape", "a weight needs at least one dimension");
  check_finite(w, n, source);

  Quantized4bit q;
  q.spec = spec;
  q.dtype = dtype;
  q.shape = std::move(shape);
  q.numel = n;
  q.packed.assign(size_t((n + 1) / 2), 0);
  const int64_t blocks = q.blocks();
  std::vector<float> absmax(static_cast<size_t>(blocks));
  const bool nf4 = spec.type == QuantType::NF4;
  std::vector<float> block(size_t(spec.block_size));
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * spec.block_size, end = std::min(n, begin + spec.block_size);
    float m = -FLT_MAX;
    for (int64_t i = begin; i < end; ++i) {
      block[size_t(i - begin)] = flush_denormal(round_to_dtype(w[i], dtype));
      m = std::max(m, std::fabs(block[size_t(i - begin)]));
    }
    absmax[size_t(b)] = m;
    const float inv = gpu_reciprocal(m);  // +inf for an all-zero block: 0 * inf = NaN -> code 0
    for (int64_t i = begin; i < end; ++i) {
      const float x = flush_denormal(block[size_t(i - begin)] * inv);
      const uint8_t c = nf4 ? nf4_code(x) : fp4_code(x);
      q.packed[size_t(i / 2)] |= uint8_t(i % 2 == 0 ? c << 4 : c);
    }
  }
  if (!spec.double_quant) {
    q.absmax = std::move(absmax);
    return q;
  }
  q.nested_offset = given_offset ? *given_offset : absmax_mean(absmax);
  std::vector<float> centered(absmax.size());
  for (size_t i = 0; i < absmax.size(); ++i) centered[i] = absmax[i] - q.nested_offset;
  q.nested = quantize_blockwise8(centered.data(), int64_t(centered.size()), 256, dynamic_map_signed());
  return q;
}

}  // namespace

std::string_view quant_type_name(QuantType t) { return t == QuantType::NF4 ? "nf4" : "fp4"; }

QuantType parse_quant_type(std::string_view name, const std::string& source) {
  if (name == "nf4") return QuantType::NF4;
  if (name == "fp4") return QuantType::FP4;
  throw Error(source, "quant_type", "expected \"nf4\" or \"fp4\", got \"" + std::string(name) + "\"");
}

std::string_view dtype_name(SourceDtype d) {
  switch (d) {
    case SourceDtype::F32: return "float32";
    case SourceDtype::F16: return "float16";
    case SourceDtype::BF16: return "bfloat16";
  }
  return "float32";
}

SourceDtype parse_dtype(std::string_view name, const std::string& source) {
  if (name == "float32") return SourceDtype::F32;
  if (name == "float16") return SourceDtype::F16;
  if (name == "bfloat16") return SourceDtype::BF16;
  throw Error(source, "dtype", "expected float32, float16 or bfloat16, got \"" + std::string(name) + "\"");
}

float round_to_dtype(float x, SourceDtype d) {
  switch (d) {
    case SourceDtype::F32: return x;
    case SourceDtype::F16: return fp16_to_f32(f32_to_fp16(x));
    case SourceDtype::BF16: return bf16_to_f32(f32_to_bf16(x));
  }
  return x;
}

// bitsandbytes decides codes with binary trees of strict comparisons (dQuantizeNF4 / dQuantizeFP4).
// Both trees are monotone in |x|, so the code is the number of the tree's thresholds strictly below
// x: the same decisions (a value equal to a threshold takes the lower code, NaN gives 0) without
// unpredictable branches. The constants are bitsandbytes' float literals.
uint8_t nf4_code(float x) {
  static constexpr float kThresholds[15] = {
      -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
      -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
      0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
      0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};
  int code = 0;
  for (float t : kThresholds) code += x > t;
  return uint8_t(code);
}

uint8_t fp4_code(float x) {
  static constexpr float kThresholds[7] = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f,
                                           0.4166667f,  0.583333f,  0.8333333f};
  // FP4 codes of the magnitudes 0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1 in ascending order.
  static constexpr uint8_t kByRank[8] = {0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011};
  const uint8_t sign = x < 0 ? 0b1000 : 0;
  const float m = std::fabs(x);
  int rank = 0;
  for (float t : kThresholds) rank += m > t;
  return uint8_t(kByRank[rank] + sign);
}

float nf4_value(uint8_t code) { return kNf4Values[code & 0x0f]; }

float fp4_value(uint8_t code) {
  const float sign = 1.0f - 2.0f * float((code & 0b1000) >> 3);
  return kFp4Magnitudes[code & 0b111] * sign;
}

std::array<float, 16> quant_map(QuantType t) {
  std::array<float, 16> m{};
  for (size_t i = 0; i < 16; ++i) m[i] = t == QuantType::NF4 ? float(kNf4Doubles[i]) : kFp4Raw[i] / 12.0f;
  return m;
}

float absmax_mean(const std::vector<float>& absmax) {
  // torch 2.11's CUDA mean of a contiguous 1-D float32 tensor (Reduce.cuh: setReduceConfig,
  // thread_reduce, block_x_reduce, global_reduce; MeanOps multiplies the sum by float(1/n)), in
  // the same order of float additions, so that the offset is the one bitsandbytes stores.
  const int64_t n = int64_t(absmax.size());
  if (n == 0) return 0.0f;
  const float* a = absmax.data();
  constexpr int64_t kMaxThreads = 512, kVt = 4;
  // The split across thread blocks depends on the GPU (H100 SXM: 132 SMs, 2048 threads each); it
  // only matters above 16 * 512 * 528 values, far beyond any weight's block count.
  constexpr int64_t kSms = 132, kThreadsPerSm = 2048;
  auto last_pow2 = [](int64_t v) {
    int64_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
  };
  const bool vectorized = n >= 128;  // loads of 4 consecutive floats
  const int64_t dim0 = vectorized ? n / kVt : n;
  const int64_t width = dim0 < kMaxThreads ? last_pow2(dim0) : kMaxThreads;  // threads of a block
  int64_t step = width;
  const int64_t values_per_thread = (n + step - 1) / step;
  int64_t ctas = 1, cta_mult = 0;
  if (values_per_thread >= 256) {  // warp split (block height 1) and then the block split
    const int64_t target = kSms * (kThreadsPerSm / width);
    ctas = std::max(std::min(target, (values_per_thread + 15) / 16), (values_per_thread + 255) / 256);
    if (ctas > 1) {
      cta_mult = step;
      step *= ctas;
    }
  }
  // Shared-memory halving down to a warp, then shuffles with decreasing offsets; lane 0's sum.
  auto block_reduce = [](std::vector<float> v) {
    size_t dim = v.size();
    if (dim > 32) {
      for (size_t off = dim / 2; off >= 32; off /= 2)
        for (size_t t = 0; t < off; ++t) v[t] += v[t + off];
      dim = 32;
    }
    for (size_t off = dim / 2; off > 0; off /= 2)
      for (size_t t = 0; t + off < dim; ++t) v[t] += v[t + off];
    return v[0];
  };
  std::vector<float> cta_sums;
  for (int64_t c = 0; c < ctas; ++c) {
    std::vector<float> lanes(static_cast<size_t>(width), 0.0f);
    for (int64_t t = 0; t < width; ++t) {
      int64_t idx = t + c * cta_mult;
      if (idx >= n) continue;
      float acc[kVt] = {0, 0, 0, 0};
      if (vectorized) {
        for (; idx * kVt + kVt - 1 < n; idx += step)
          for (int64_t i = 0; i < kVt; ++i) acc[i] += a[idx * kVt + i];
        const int64_t tail = n - n % kVt + t;
        if (c == 0 && tail < n) acc[0] += a[tail];
      } else {
        for (; idx + (kVt - 1) * step < n; idx += kVt * step)
          for (int64_t i = 0; i < kVt; ++i) acc[i] += a[idx + i * step];
        for (int64_t i = 0; i < kVt && idx < n; ++i, idx += step) acc[i] += a[idx];
      }
      lanes[size_t(t)] = ((acc[0] + acc[1]) + acc[2]) + acc[3];
    }
    cta_sums.push_back(block_reduce(std::move(lanes)));
  }
  float sum = cta_sums[0];
  if (ctas > 1) {  // the last block gathers the partial sums, lane t taking t, t + width, ...
    std::vector<float> lanes(static_cast<size_t>(width), 0.0f);
    for (size_t k = 0; k < cta_sums.size(); ++k) lanes[k % size_t(width)] += cta_sums[k];
    sum = block_reduce(std::move(lanes));
  }
  return sum * (1.0f / float(n));
}

std::vector<float> Quantized4bit::block_absmax() const {
  if (!spec.double_quant) return absmax;
  std::vector<float> a = dequantize_blockwise8(nested, dynamic_map_signed());
  for (float& v : a) v += nested_offset;
  return a;
}

Quantized4bit quantize_4bit(const float* w, std::vector<int64_t> shape, const Spec4bit& spec, SourceDtype dtype,
                            const std::string& source) {
  return quantize_impl(w, std::move(shape), spec, dtype, nullptr, source);
}

Quantized4bit quantize_4bit_with_offset(const float* w, std::vector<int64_t> shape, const Spec4bit& spec,
                                        SourceDtype dtype, float nested_offset, const std::string& source) {
  return quantize_impl(w, std::move(shape), spec, dtype, &nested_offset, source);
}

std::vector<float> dequantize_4bit(const Quantized4bit& q) {
  const std::vector<float> scale = q.block_absmax();
  const bool nf4 = q.spec.type == QuantType::NF4;
  std::vector<float> out(static_cast<size_t>(q.numel));
  float table[16];
  for (int64_t b = 0; b < q.blocks(); ++b) {
    // Each block's 16 possible outputs, computed as the kernel computes every value.
    for (uint8_t c = 0; c < 16; ++c)
      table[c] = round_to_dtype(flush_denormal((nf4 ? nf4_value(c) : fp4_value(c)) * scale[size_t(b)]), q.dtype);
    const int64_t end = std::min(q.numel, (b + 1) * q.spec.block_size);
    for (int64_t i = b * q.spec.block_size; i < end; ++i) out[size_t(i)] = table[q.code(i)];
  }
  return out;
}

}  // namespace quantlab::bnb
