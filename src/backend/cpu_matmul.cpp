// CPU matmul: register tiles of up to 4 weight rows x 4 tokens, blocked over rows (per thread) and
// over the input dimension (so a weight block stays in L2 while every token of the batch uses it).
// F32 weights, and F16/BF16 weights at small batch sizes, are read in place (conversion fused into
// the load: decode streams each weight once); other formats, and F16/BF16 for larger batches, are
// decoded block by block into a per-thread f32 scratch that all tokens then share. The register
// tiles, dot products and integer kernels come from the kernel table of the instruction set
// chosen at run time (src/backend/cpu/kernel_table.hpp); this file is the instruction-set-free
// driver around them.
#include "quantlab/backend/matmul.hpp"
#include "quantlab/core/error.hpp"
#include "src/backend/cpu/kernel_table.hpp"
#include "src/backend/quant_dot.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace quantlab {
namespace {

using cpu::kLanes;
using cpu::kTileRows;
using cpu::kTileTokens;
using cpu::KernelTable;
using cpu::TileArgs;
using cpu::TileSource;
constexpr int64_t kRowBlock = 64;          // rows decoded/processed together by one thread
constexpr int64_t kThreadRowUnit = 16;     // granularity of the split of rows across threads
constexpr int64_t kKBlock = 512;           // input-dimension block for large batches (multiple of 256)
constexpr int64_t kConvertMinTokens = 8;   // from this batch size on, F16/BF16 go through scratch
constexpr int64_t kSerialWork = 1 << 18;   // multiply-adds below which threading costs more than it saves

struct Scratch {
  std::vector<float> weights;  // decoded weight block [kRowBlock][k block]
  std::vector<float> acc;      // lane sums between input blocks
  std::vector<float> x;        // the activations' current input block [tokens][k block], padded
};

void row_to_f32_with(const KernelTable& k, FormatId format, const void* src, float* dst, int64_t n) {
  switch (format) {
    case FormatId::F32: std::memcpy(dst, src, size_t(n) * sizeof(float)); return;
    case FormatId::F16: k.f16_to_f32(static_cast<const uint16_t*>(src), dst, n); return;
    case FormatId::BF16: k.bf16_to_f32(static_cast<const uint16_t*>(src), dst, n); return;
    default: break;
  }
  const auto& f = format_traits(format);
  if (!f.to_float) throw Error("", "format", "no decoder for format " + std::string(f.name));
  f.to_float(src, dst, n);
}

// Rows [r_begin, r_end) of y for all tokens.
void matmul_rows(const KernelTable& kt, const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t r_begin, int64_t r_end,
                 Scratch& scratch) {
  const int64_t n = w.cols;
  const FormatId fmt = w.format;
  // Small batches read the weights where they lie (each is used once or a few times); larger
  // ones copy each block to a padded scratch first (decoding it once for all tokens, and keeping
  // rows off the 4 KiB stride at which they would evict each other from L1).
  const bool in_place = n_tokens < kConvertMinTokens &&
                        (fmt == FormatId::F32 || fmt == FormatId::F16 || fmt == FormatId::BF16);
  const TileSource src = !in_place || fmt == FormatId::F32 ? TileSource::F32
                         : fmt == FormatId::F16            ? TileSource::F16
                                                           : TileSource::BF16;
  const size_t elem_bytes = fmt == FormatId::F32 ? 4 : 2;
  // One input block (lane sums stay in registers) unless the batch is large and rows are long.
  const int64_t k_block = (n_tokens <= kTileTokens || n <= 2 * kKBlock) ? n : kKBlock;
  const int64_t n_token_tiles = (n_tokens + kTileTokens - 1) / kTileTokens;
  const int64_t pad_stride = k_block + kLanes;  // padded row stride of the scratch copies
  if (!in_place) {
    scratch.weights.resize(size_t(kRowBlock * pad_stride));
    scratch.x.resize(size_t(n_tokens * pad_stride));
  }
  if (k_block < n)
    scratch.acc.resize(size_t(((kRowBlock + kTileRows - 1) / kTileRows) * n_token_tiles * kTileRows * kTileTokens * kLanes));

  const void* wp[kRowBlock];
  for (int64_t rb = r_begin; rb < r_end; rb += kRowBlock) {
    const int64_t nr = std::min(kRowBlock, r_end - rb);
    for (int64_t k0 = 0; k0 < n; k0 += k_block) {
      const int64_t len = std::min(k_block, n - k0);
      for (int64_t i = 0; i < nr; ++i) {
        if (in_place) {
          wp[i] = w.row(rb + i) + size_t(k0) * elem_bytes;
        } else {
          float* dst = scratch.weights.data() + i * pad_stride;
          row_to_f32_with(kt, fmt, w.row(rb + i) + row_bytes(fmt, k0), dst, len);
          wp[i] = dst;
        }
      }
      if (!in_place)
        for (int64_t t = 0; t < n_tokens; ++t)
          std::memcpy(scratch.x.data() + t * pad_stride, x + t * n + k0, size_t(len) * sizeof(float));
      TileArgs args{};
      args.len = len;
      args.first = k0 == 0;
      args.last = k0 + len == n;
      args.y_stride = w.rows;
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kTileTokens) {
        const int ct = int(std::min<int64_t>(kTileTokens, n_tokens - t0));
        const float* xp[kTileTokens];
        for (int c = 0; c < ct; ++c) xp[c] = in_place ? x + (t0 + c) * n + k0 : scratch.x.data() + (t0 + c) * pad_stride;
        args.x = xp;
        for (int64_t r = 0; r < nr; r += kTileRows) {
          const int cr = int(std::min<int64_t>(kTileRows, nr - r));
          args.w = wp + r;
          args.y = y + t0 * w.rows + rb + r;
          if (k_block < n)
            args.acc = scratch.acc.data() +
                       ((r / kTileRows) * n_token_tiles + t0 / kTileTokens) * (kTileRows * kTileTokens * kLanes);
          kt.tiles[int(src)][cr - 1][ct - 1](args);
        }
      }
    }
  }
}

thread_local Scratch tls_scratch;
thread_local std::vector<cpu::ActivationBlock> tls_quantized_x;
thread_local std::vector<cpu::ActivationBlockK> tls_quantized_xk;

// Activation blocks of the two integer families: 32-value blocks (Q4_0..Q8_0 weights) and Q8_K
// super-blocks (K-quant weights).
template <class XB> constexpr int64_t kActivationBlock = cpu::kQ8Block;
template <> constexpr int64_t kActivationBlock<cpu::ActivationBlockK> = cpu::kQ8KBlock;
inline void quantize_row(const KernelTable& kt, const float* x, cpu::ActivationBlock* out, int64_t n) {
  kt.quantize_q8(x, out, n);
}
inline void quantize_row(const KernelTable&, const float* x, cpu::ActivationBlockK* out, int64_t n) {
  cpu::quantize_activations_k(x, out, n);
}

// Formats with integer kernels: activations quantized once, then one row dot per (row, token).
// Used at every batch size, so decode and prefill still agree bit for bit.
template <class XB, class Dot, class Dot4>
void matmul_quantized_rows(const WeightMatrix& w, const XB* xq, int64_t n_tokens, float* y, int64_t r_begin,
                           int64_t r_end, Dot dot, Dot4 dot4) {
  const int64_t nb = w.cols / kActivationBlock<XB>;
  // Groups of 4 tokens share each unpacked weight block; a row stays in L1 across all tokens.
  for (int64_t r = r_begin; r < r_end; ++r) {
    const uint8_t* row = w.row(r);
    int64_t t = 0;
    if (dot4)
      for (; t + 4 <= n_tokens; t += 4) {
        const XB* xs[4] = {xq + t * nb, xq + (t + 1) * nb, xq + (t + 2) * nb, xq + (t + 3) * nb};
        float out[4];
        dot4(row, xs, nb, out);
        for (int c = 0; c < 4; ++c) y[(t + c) * w.rows + r] = out[c];
      }
    for (; t < n_tokens; ++t) y[t * w.rows + r] = dot(row, xq + t * nb, nb);
  }
}

template <class XB>
const XB* quantize_tokens(const KernelTable& kt, ThreadPool* pool, const WeightMatrix& w, const float* x,
                          int64_t n_tokens, std::vector<XB>& buf) {
  const int64_t nb = w.cols / kActivationBlock<XB>;
  buf.resize(size_t(n_tokens * nb));
  auto run = [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) quantize_row(kt, x + t * w.cols, buf.data() + t * nb, w.cols);
  };
  // Each token is quantized on its own, so splitting the tokens across threads changes nothing.
  if (pool && pool->size() > 1 && n_tokens * w.cols >= (1 << 15)) pool->parallel_for(n_tokens, run);
  else run(0, n_tokens, 0);
  return buf.data();
}

// Quantized activations and integer row kernels (K: the Q8_K family), rows split across threads.
template <class XB, class Kernels>
void matmul_integer(const KernelTable& kt, ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t n_tokens,
                    float* y, const Kernels& q, std::vector<XB>& buf) {
  const XB* xq = quantize_tokens(kt, pool, w, x, n_tokens, buf);
  const int64_t units = (w.rows + kThreadRowUnit - 1) / kThreadRowUnit;
  // Integer work is cheaper per weight than f32: a larger serial threshold.
  if (!pool || pool->size() == 1 || units < 2 || w.rows * w.cols * n_tokens < 2 * kSerialWork) {
    matmul_quantized_rows(w, xq, n_tokens, y, 0, w.rows, q.dot, q.dot4);
    return;
  }
  pool->parallel_for(units, [&](int64_t u0, int64_t u1, int) {
    matmul_quantized_rows(w, xq, n_tokens, y, u0 * kThreadRowUnit, std::min(w.rows, u1 * kThreadRowUnit), q.dot, q.dot4);
  });
}

// The 8-bit format llama.cpp's CPU backend quantizes activations to before multiplying them with
// weights of `format` (ggml's vec_dot_type), for formats that have no integer kernel here and are
// decoded to f32 instead. Rounding the activations the same way (then computing in f32) keeps a
// quantized model's perplexity as llama.cpp measures it: the 8-bit rounding of activations costs a
// K-quant model up to ~1 % perplexity, more than the weights' own differences between formats.
// F32 = no rounding (float and 16-bit weights: llama.cpp rounds those activations to f16/bf16
// only, which moves perplexity by far less than 0.1 %, and they are the reference side).
FormatId activation_rounding(FormatId format) {
  switch (format) {
    case FormatId::Q5_1:
    case FormatId::Q8_1:
    case FormatId::IQ4_NL:
    case FormatId::MXFP4:
      return FormatId::Q8_0;  // Q8_1's values are Q8_0's (its extra field is the block sum)
    case FormatId::Q2_K: case FormatId::Q3_K: case FormatId::Q4_K: case FormatId::Q5_K: case FormatId::Q6_K:
    case FormatId::IQ2_XXS: case FormatId::IQ2_XS: case FormatId::IQ2_S: case FormatId::IQ3_XXS:
    case FormatId::IQ3_S: case FormatId::IQ1_S: case FormatId::IQ1_M: case FormatId::IQ4_XS:
    case FormatId::TQ1_0: case FormatId::TQ2_0:
      return FormatId::Q8_K;
    default:
      return FormatId::F32;
  }
}

// x rounded through `rounding` (encode + decode, token by token) into buf; returns buf's data.
const float* round_activations(ThreadPool* pool, FormatId rounding, const float* x, int64_t n_tokens, int64_t cols,
                               std::vector<float>& buf) {
  const auto& f = format_traits(rounding);
  buf.resize(size_t(n_tokens * cols));
  auto run = [&](int64_t t0, int64_t t1, int) {
    std::vector<uint8_t> packed(row_bytes(rounding, cols));
    for (int64_t t = t0; t < t1; ++t) {
      f.from_float(x + t * cols, packed.data(), cols, nullptr);
      f.to_float(packed.data(), buf.data() + t * cols, cols);
    }
  };
  if (pool && pool->size() > 1 && n_tokens * cols >= (1 << 15)) pool->parallel_for(n_tokens, run);
  else run(0, n_tokens, 0);
  return buf.data();
}

thread_local std::vector<float> tls_rounded_x;

void check(const WeightMatrix& w) {
  if (w.empty()) throw Error("", "matmul", "empty weight matrix");
  const auto& f = format_traits(w.format);
  if (!f.to_float && w.format != FormatId::F32) throw Error("", "matmul", "no decoder for format " + std::string(f.name));
}

void matmul_with(const KernelTable& kt, ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t n_tokens,
                 float* y) {
  check(w);
  if (n_tokens <= 0) return;
  const int64_t units = (w.rows + kThreadRowUnit - 1) / kThreadRowUnit;
  const bool serial = !pool || pool->size() == 1 || units < 2;
  if (const cpu::QuantDotKernels* q = kt.quant_dot(w.format)) {
    matmul_integer(kt, pool, w, x, n_tokens, y, *q, tls_quantized_x);
    return;
  }
  if (const cpu::KQuantDotKernels* q = kt.kquant_dot(w.format)) {
    matmul_integer(kt, pool, w, x, n_tokens, y, *q, tls_quantized_xk);
    return;
  }
  if (const FormatId r = activation_rounding(w.format); r != FormatId::F32)
    x = round_activations(pool, r, x, n_tokens, w.cols, tls_rounded_x);
  if (serial || w.rows * w.cols * n_tokens < kSerialWork) {
    matmul_rows(kt, w, x, n_tokens, y, 0, w.rows, tls_scratch);
    return;
  }
  pool->parallel_for(units, [&](int64_t u0, int64_t u1, int) {
    matmul_rows(kt, w, x, n_tokens, y, u0 * kThreadRowUnit, std::min(w.rows, u1 * kThreadRowUnit), tls_scratch);
  });
}

}  // namespace

WeightMatrix make_weight_matrix(FormatId format, const void* data, int64_t rows, int64_t cols) {
  return host_tensor(format, data, rows, cols);
}

void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  matmul_with(cpu::kernels(), &pool, w, x, n_tokens, y);
}

void matmul_portable(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  matmul_with(*cpu::portable_kernels(), nullptr, w, x, n_tokens, y);
}

float dot_f32(const float* a, const float* b, int64_t n) { return cpu::kernels().dot_f32(a, b, n); }

void row_to_f32(FormatId format, const void* src, float* dst, int64_t n) {
  row_to_f32_with(cpu::kernels(), format, src, dst, n);
}

const char* matmul_kernel_name() { return cpu::kernels().name; }

}  // namespace quantlab
