// Matrix products on the GPU. Weights stay in their GGUF layout; activations are f32.
//
// Quantized weights: the activations are first rounded to 8 bits the way the CPU backend (and
// llama.cpp's CPU backend) rounds them for that format (matmul.hpp: Q8_0 blocks of 32 for Q4_0,
// Q4_1, Q5_0, Q8_0 as in the integer kernels, Q8_0 reference rounding for Q5_1 and IQ4_NL, Q8_K
// blocks of 256 for the K and IQ4_XS formats), so the GPU multiplies the same integers as the CPU
// and differs from it only in the order of float additions.
//   * 1..8 tokens (decode): one warp per weight row reads each weight once (memory bound) and takes
//     32-value blocks through __dp4a against every token's 8-bit activations.
//   * more tokens (prefill): the weights are decoded to f16 in row chunks, the 8-bit rounded
//     activations converted to f16 (exact to 2^-11), and cuBLAS multiplies them with f32 accumulation.
// f32 weights: cuBLAS SGEMM (no TF32 unless Backend::allow_tf32) for prefill, a warp-per-row GEMV for decode; f16/bf16 weights:
// GEMV for decode, cuBLAS GemmEx with the activations rounded to f16/bf16 for prefill.
// Every output element is reduced in a fixed order (warp shuffle trees, cuBLAS's fixed algorithms
// on one stream), so the same inputs give the same bits run to run.
#include "src/backend/cuda/cublas_library.hpp"
#include "src/backend/cuda/kernels.hpp"
#include "src/backend/cuda/quant_blocks.cuh"

#include <algorithm>

namespace quantlab::cuda {
namespace {

constexpr int kGemvMaxTokens = 8;
constexpr int kWarpsPerBlock = 4;

enum class XRounding { Q8_0Dot, Q8_0Ref, Q8_K };

// The weight matrices one GEMV launch multiplies with the same activations (Q/K/V, gate/up), rows
// numbered across them: matrix m holds rows [end[m-1], end[m]). Each row's sum is computed as in
// a launch of its matrix alone.
struct GemvRows {
  const void* w[kMaxMatmulGroup];
  float* y[kMaxMatmulGroup];
  int64_t end[kMaxMatmulGroup];
  int count;
};

// The matrix of global row g: its weights, output and the row within it. The arrays are read at
// constant indices only (a runtime index would copy the kernel's parameters to local memory).
struct GemvRow {
  const void* w;
  float* y;
  int64_t row, rows;
};
__device__ __forceinline__ bool find_row(const GemvRows& r, int64_t g, GemvRow& out) {
  out = {r.w[0], r.y[0], g, r.end[0]};
  int64_t begin = 0, end = r.end[0];
#pragma unroll
  for (int m = 1; m < kMaxMatmulGroup; ++m)
    if (m < r.count && g >= r.end[m - 1]) {
      out.w = r.w[m];
      out.y = r.y[m];
      begin = r.end[m - 1];
      end = r.end[m];
    }
  if (g >= end) return false;
  out.row = g - begin;
  out.rows = end - begin;
  return true;
}

XRounding rounding_of(FormatId f) {
  switch (f) {
    case FormatId::Q4_0: case FormatId::Q4_1: case FormatId::Q5_0: case FormatId::Q8_0: return XRounding::Q8_0Dot;
    case FormatId::Q5_1: case FormatId::IQ4_NL: return XRounding::Q8_0Ref;
    default: return XRounding::Q8_K;
  }
}

// Rounds activations to 8-bit levels as the CPU does: src/backend/cpu_quant_dot.cpp (Q8_0Dot),
// src/formats/q8.cpp (Q8_0Ref) and q8_k.cpp (Q8_K), one warp per group of 32 (lane = value) or 256
// (lane = 8 consecutive values). Outputs: levels xq [n][cols] and one scale per 32 values xd
// [n][cols/32] (a Q8_K scale repeated for its 8 blocks), or, when xh is set, the rounded values
// d*q as f16 (the prefill path).
template <XRounding R>
__global__ void round_activations(const float* x, int64_t groups, int8_t* xq, float* xd, __half* xh) {
  const int lane = threadIdx.x & 31;
  const int64_t g = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  if (g >= groups) return;
  if constexpr (R == XRounding::Q8_K) {
    const float* src = x + g * 256 + 8 * lane;
    const float4 a = *reinterpret_cast<const float4*>(src), b = *reinterpret_cast<const float4*>(src + 4);
    const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    // The first value of largest magnitude, with its sign (quantize_row_q8_K_ref's `max`).
    float amax = 0.0f, mx = 0.0f;
    int at = 1 << 30;
#pragma unroll
    for (int j = 0; j < 8; ++j)
      if (fabsf(v[j]) > amax) { amax = fabsf(v[j]); mx = v[j]; at = 8 * lane + j; }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float a2 = __shfl_xor_sync(0xffffffffu, amax, o), m2 = __shfl_xor_sync(0xffffffffu, mx, o);
      const int at2 = __shfl_xor_sync(0xffffffffu, at, o);
      if (a2 > amax || (a2 == amax && at2 < at)) { amax = a2; mx = m2; at = at2; }
    }
    int q[8];
    float d = 0.0f;
    if (amax == 0.0f) {
#pragma unroll
      for (int j = 0; j < 8; ++j) q[j] = 0;
    } else {
      const float iscale = -127.0f / mx;
#pragma unroll
      for (int j = 0; j < 8; ++j) q[j] = min(127, __float2int_rn(iscale * v[j]));
      d = 1.0f / iscale;
    }
    if (xh) {
#pragma unroll
      for (int j = 0; j < 8; ++j) xh[g * 256 + 8 * lane + j] = __float2half_rn(d * float(q[j]));
      return;
    }
    uint2 packed;
    packed.x = uint32_t(q[0] & 0xFF) | uint32_t(q[1] & 0xFF) << 8 | uint32_t(q[2] & 0xFF) << 16 | uint32_t(q[3] & 0xFF) << 24;
    packed.y = uint32_t(q[4] & 0xFF) | uint32_t(q[5] & 0xFF) << 8 | uint32_t(q[6] & 0xFF) << 16 | uint32_t(q[7] & 0xFF) << 24;
    *reinterpret_cast<uint2*>(xq + g * 256 + 8 * lane) = packed;
    if (lane < 8) xd[g * 8 + lane] = d;
  } else {
    const float v = x[g * 32 + lane];
    const float amax = warp_max(fabsf(v));
    const float d = amax / 127.0f;
    int q;
    if constexpr (R == XRounding::Q8_0Dot) {
      const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
      q = __float2int_rn(v * id);
    } else {
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      q = int(roundf(v * id));
    }
    const float d16 = __half2float(__float2half_rn(d));
    if (xh) {
      xh[g * 32 + lane] = __float2half_rn(d16 * float(q));
      return;
    }
    xq[g * 32 + lane] = int8_t(q);
    if (lane == 0) xd[g] = d16;
  }
}

// One warp per weight row, N >= n tokens. Lane l takes 32-value blocks l, l+32, ...
template <FormatId F, int N>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_quant(const GemvRows r, size_t stride, int64_t cols, const int8_t* xq, const float* xd, int n) {
  const int lane = threadIdx.x & 31;
  GemvRow at;
  if (!find_row(r, int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5), at)) return;
  const int64_t row = at.row, rows = at.rows;
  const uint8_t* wr = static_cast<const uint8_t*>(at.w) + size_t(row) * stride;
  float* y = at.y;
  const int64_t nb = cols / 32;
  float acc[N];
#pragma unroll
  for (int t = 0; t < N; ++t) acc[t] = 0.0f;
  for (int64_t b = lane; b < nb; b += 32) {
    Block32 o;
    Fmt<F>::decode(wr, b, o);
#pragma unroll
    for (int t = 0; t < N; ++t) {
      if (t < n) {
        const int4* xv = reinterpret_cast<const int4*>(xq + t * cols + 32 * b);
        const int4 a = __ldg(xv), c = __ldg(xv + 1);
        int s0 = __dp4a(int(o.q[0]), a.x, 0);
        s0 = __dp4a(int(o.q[1]), a.y, s0);
        s0 = __dp4a(int(o.q[2]), a.z, s0);
        s0 = __dp4a(int(o.q[3]), a.w, s0);
        int s1 = __dp4a(int(o.q[4]), c.x, 0);
        s1 = __dp4a(int(o.q[5]), c.y, s1);
        s1 = __dp4a(int(o.q[6]), c.z, s1);
        s1 = __dp4a(int(o.q[7]), c.w, s1);
        const float dx = __ldg(xd + t * nb + b);
        float part = o.d0 * float(s0) + o.d1 * float(s1);
        if constexpr (Fmt<F>::kHasMin) {
          constexpr int kOnes = 0x01010101;
          const int x0 = __dp4a(kOnes, a.w, __dp4a(kOnes, a.z, __dp4a(kOnes, a.y, __dp4a(kOnes, a.x, 0))));
          const int x1 = __dp4a(kOnes, c.w, __dp4a(kOnes, c.z, __dp4a(kOnes, c.y, __dp4a(kOnes, c.x, 0))));
          if constexpr (F == FormatId::Q4_1) {
            // The CPU's integer kernel (as llama.cpp's q8_1) multiplies the minimum by the block
            // sum d*sum(q) rounded to f16.
            acc[t] += dx * part + o.m0 * __half2float(__float2half_rn(dx * float(x0 + x1)));
            continue;
          }
          part += o.m0 * float(x0) + o.m1 * float(x1);
        }
        acc[t] += dx * part;
      }
    }
  }
#pragma unroll
  for (int t = 0; t < N; ++t) {
    if (t < n) {
      const float s = warp_sum(acc[t]);
      if (lane == 0) y[t * rows + row] = s;
    }
  }
}

template <class W>
__device__ __forceinline__ float to_f32(W v) {
  if constexpr (std::is_same_v<W, float>) return v;
  else if constexpr (std::is_same_v<W, __half>) return __half2float(v);
  else return __bfloat162float(v);
}

// Dense weights: one warp per row, lane l takes values 8l..8l+7 of every 256 (16-byte loads where
// the row allows them), the rest one by one.
template <class W, int N>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_dense(const GemvRows r, int64_t cols, const float* x, int n) {
  const int lane = threadIdx.x & 31;
  GemvRow at;
  if (!find_row(r, int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5), at)) return;
  const int64_t row = at.row, rows = at.rows;
  const W* wr = static_cast<const W*>(at.w) + row * cols;
  float* y = at.y;
  float acc[N];
#pragma unroll
  for (int t = 0; t < N; ++t) acc[t] = 0.0f;
  int64_t k0 = 0;
  if (cols % 8 == 0) {
    for (int64_t k = 8 * lane; k < cols; k += 256) {
      float wv[8];
      if constexpr (std::is_same_v<W, float>) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(wr + k));
        const float4 b = __ldg(reinterpret_cast<const float4*>(wr + k) + 1);
        wv[0] = a.x, wv[1] = a.y, wv[2] = a.z, wv[3] = a.w, wv[4] = b.x, wv[5] = b.y, wv[6] = b.z, wv[7] = b.w;
      } else {
        const uint4 a = __ldg(reinterpret_cast<const uint4*>(wr + k));
        const W* h = reinterpret_cast<const W*>(&a);
#pragma unroll
        for (int i = 0; i < 8; ++i) wv[i] = to_f32(h[i]);
      }
#pragma unroll
      for (int t = 0; t < N; ++t) {
        if (t < n) {
          const float4 a = __ldg(reinterpret_cast<const float4*>(x + t * cols + k));
          const float4 b = __ldg(reinterpret_cast<const float4*>(x + t * cols + k) + 1);
          float s = acc[t];
          s = fmaf(wv[0], a.x, s); s = fmaf(wv[1], a.y, s); s = fmaf(wv[2], a.z, s); s = fmaf(wv[3], a.w, s);
          s = fmaf(wv[4], b.x, s); s = fmaf(wv[5], b.y, s); s = fmaf(wv[6], b.z, s); s = fmaf(wv[7], b.w, s);
          acc[t] = s;
        }
      }
    }
    k0 = cols;
  }
  for (int64_t k = k0 + lane; k < cols; k += 32) {
    const float wv = to_f32(wr[k]);
#pragma unroll
    for (int t = 0; t < N; ++t)
      if (t < n) acc[t] = fmaf(wv, x[t * cols + k], acc[t]);
  }
#pragma unroll
  for (int t = 0; t < N; ++t) {
    if (t < n) {
      const float s = warp_sum(acc[t]);
      if (lane == 0) y[t * rows + row] = s;
    }
  }
}

// Rows [0, rows) of quantized weights decoded to f16, [rows][cols]; one thread per 32 values.
template <FormatId F>
__global__ void decode_to_half(const uint8_t* w, size_t stride, int64_t rows, int64_t cols, __half* out) {
  const int64_t nb = cols / 32;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * nb) return;
  const int64_t r = i / nb, b = i % nb;
  Block32 o;
  Fmt<F>::decode(w + size_t(r) * stride, b, o);
  __align__(16) __half v[32];
#pragma unroll
  for (int j = 0; j < 32; ++j) v[j] = __float2half_rn(block_value(o, j));
  uint4* dst = reinterpret_cast<uint4*>(out + r * cols + 32 * b);
#pragma unroll
  for (int j = 0; j < 4; ++j) dst[j] = reinterpret_cast<const uint4*>(v)[j];
}

// Table rows ids[t] decoded to f32 (embedding lookup); one thread per 32 values.
template <FormatId F>
__global__ void decode_rows_f32(const uint8_t* w, size_t stride, int64_t cols, const int32_t* ids, int64_t n,
                                float scale, float* out) {
  const int64_t nb = cols / 32;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * nb) return;
  const int64_t t = i / nb, b = i % nb;
  Block32 o;
  Fmt<F>::decode(w + size_t(ids[t]) * stride, b, o);
  float* dst = out + t * cols + 32 * b;
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    const float v = block_value(o, j);
    dst[j] = scale != 1.0f ? __fmul_rn(v, scale) : v;
  }
}

template <class W>
__global__ void dense_rows_f32(const W* w, int64_t cols, const int32_t* ids, int64_t n, float scale, float* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * cols) return;
  const int64_t t = i / cols, k = i % cols;
  const float v = to_f32(w[int64_t(ids[t]) * cols + k]);
  out[i] = scale != 1.0f ? __fmul_rn(v, scale) : v;
}

template <class H>
__global__ void f32_to(const float* x, int64_t n, H* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if constexpr (std::is_same_v<H, __half>) out[i] = __float2half_rn(x[i]);
  else out[i] = __float2bfloat16_rn(x[i]);
}

constexpr int kThreads = 256;

unsigned grid_of(int64_t n, int threads = kThreads) { return unsigned(ceil_div(n, threads)); }

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error("cuda backend", what, "cuBLAS status " + std::to_string(int(s)));
}

bool is_dense(FormatId f) { return f == FormatId::F32 || f == FormatId::F16 || f == FormatId::BF16; }

bool has_block_decoder(FormatId f) {
  bool found = false;
  dispatch_quant(f, [&found]<FormatId>() { found = true; });
  return found;
}

void launch_round(const Context& ctx, XRounding r, const float* x, int64_t n, int64_t cols, int8_t* xq, float* xd,
                  __half* xh) {
  const int64_t groups = n * cols / (r == XRounding::Q8_K ? 256 : 32);
  const unsigned grid = unsigned(ceil_div(groups * 32, 256));
  switch (r) {
    case XRounding::Q8_0Dot: round_activations<XRounding::Q8_0Dot><<<grid, 256, 0, ctx.stream>>>(x, groups, xq, xd, xh); break;
    case XRounding::Q8_0Ref: round_activations<XRounding::Q8_0Ref><<<grid, 256, 0, ctx.stream>>>(x, groups, xq, xd, xh); break;
    case XRounding::Q8_K: round_activations<XRounding::Q8_K><<<grid, 256, 0, ctx.stream>>>(x, groups, xq, xd, xh); break;
  }
  check_launch("round activations");
}

template <class W>
void gemv_dense_launch(const Context& ctx, const GemvRows& r, int64_t cols, const float* x, int64_t n) {
  const unsigned grid = grid_of(r.end[r.count - 1], kWarpsPerBlock);
  const int threads = kWarpsPerBlock * 32;
  if (n <= 1) gemv_dense<W, 1><<<grid, threads, 0, ctx.stream>>>(r, cols, x, int(n));
  else if (n <= 2) gemv_dense<W, 2><<<grid, threads, 0, ctx.stream>>>(r, cols, x, int(n));
  else if (n <= 4) gemv_dense<W, 4><<<grid, threads, 0, ctx.stream>>>(r, cols, x, int(n));
  else gemv_dense<W, 8><<<grid, threads, 0, ctx.stream>>>(r, cols, x, int(n));
  check_launch("gemv dense");
}

// y [n][rows] (column-major rows x n) = W^T-view (W row-major [rows][cols]) times x ([n][cols]).
void gemm_ex(const Context& ctx, const void* w, cudaDataType wt, const void* x, cudaDataType xt, int64_t rows,
             int64_t cols, int64_t n, float* y, int64_t ldc, cublasComputeType_t compute = CUBLAS_COMPUTE_32F) {
  const float one = 1.0f, zero = 0.0f;
  check_cublas(cublas_library().gemm_ex(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(n), int(cols), &one, w, wt, int(cols), x,
                            xt, int(cols), &zero, y, CUDA_R_32F, int(ldc), compute, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

}  // namespace

bool matmul_supported(FormatId f) { return is_dense(f) || has_block_decoder(f); }
bool decode_supported(FormatId f) { return matmul_supported(f); }

int activation_rounding(FormatId f) { return is_dense(f) ? -1 : int(rounding_of(f)); }

bool matmul(const Context& ctx, FormatId f, size_t stride, int64_t cols, std::span<const MatmulTarget> targets,
            const float* x, int64_t n, bool x_rounded) {
  if (n <= 0 || targets.empty()) return false;
  if (n <= kGemvMaxTokens) {
    // Decode: every matrix in one launch.
    GemvRows r{};
    r.count = int(targets.size());
    int64_t rows = 0;
    for (size_t m = 0; m < targets.size(); ++m) {
      r.w[m] = targets[m].w;
      r.y[m] = targets[m].y;
      r.end[m] = rows += targets[m].rows;
    }
    if (rows <= 0) return false;
    if (is_dense(f)) {
      if (f == FormatId::F32) gemv_dense_launch<float>(ctx, r, cols, x, n);
      else if (f == FormatId::F16) gemv_dense_launch<__half>(ctx, r, cols, x, n);
      else gemv_dense_launch<__nv_bfloat16>(ctx, r, cols, x, n);
      return false;
    }
    auto* xq = static_cast<int8_t*>(ctx.ws->get(Workspace::kActivations, size_t(n * cols) + size_t(n * cols / 32) * 4));
    auto* xd = reinterpret_cast<float*>(xq + n * cols);  // n*cols is a multiple of 32: aligned
    if (!x_rounded) launch_round(ctx, rounding_of(f), x, n, cols, xq, xd, nullptr);
    const unsigned grid = grid_of(rows, kWarpsPerBlock);
    const int threads = kWarpsPerBlock * 32;
    dispatch_quant(f, [&]<FormatId F>() {
      if (n <= 1) gemv_quant<F, 1><<<grid, threads, 0, ctx.stream>>>(r, stride, cols, xq, xd, int(n));
      else if (n <= 2) gemv_quant<F, 2><<<grid, threads, 0, ctx.stream>>>(r, stride, cols, xq, xd, int(n));
      else if (n <= 4) gemv_quant<F, 4><<<grid, threads, 0, ctx.stream>>>(r, stride, cols, xq, xd, int(n));
      else gemv_quant<F, 8><<<grid, threads, 0, ctx.stream>>>(r, stride, cols, xq, xd, int(n));
    });
    check_launch("gemv quantized");
    return true;
  }
  if (is_dense(f)) {
    void* xh = nullptr;
    if (f != FormatId::F32) {
      xh = ctx.ws->get(Workspace::kActivations, size_t(n * cols) * 2);
      if (f == FormatId::F16) f32_to<__half><<<grid_of(n * cols), kThreads, 0, ctx.stream>>>(x, n * cols, static_cast<__half*>(xh));
      else f32_to<__nv_bfloat16><<<grid_of(n * cols), kThreads, 0, ctx.stream>>>(x, n * cols, static_cast<__nv_bfloat16*>(xh));
      check_launch("f32 to f16/bf16");
    }
    for (const MatmulTarget& t : targets) {
      if (t.rows <= 0) continue;
      if (f == FormatId::F32 && ctx.tf32) {
        gemm_ex(ctx, t.w, CUDA_R_32F, x, CUDA_R_32F, t.rows, cols, n, t.y, t.rows, CUBLAS_COMPUTE_32F_FAST_TF32);
      } else if (f == FormatId::F32) {
        const float one = 1.0f, zero = 0.0f;
        check_cublas(cublas_library().sgemm(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(t.rows), int(n), int(cols), &one,
                                 static_cast<const float*>(t.w), int(cols), x, int(cols), &zero, t.y, int(t.rows)),
                     "cublasSgemm");
      } else {
        const cudaDataType dt = f == FormatId::F16 ? CUDA_R_16F : CUDA_R_16BF;
        gemm_ex(ctx, t.w, dt, xh, dt, t.rows, cols, n, t.y, t.rows);
      }
    }
    return false;
  }
  auto* xh = static_cast<__half*>(ctx.ws->get(Workspace::kActivations, size_t(n * cols) * 2));
  launch_round(ctx, rounding_of(f), x, n, cols, nullptr, nullptr, xh);
  for (const MatmulTarget& t : targets) {
    // Weights decoded in chunks of rows so the f16 copy stays within ~256 MiB.
    const int64_t rows = t.rows;
    if (rows <= 0) continue;
    const uint8_t* wb = static_cast<const uint8_t*>(t.w);
    const int64_t chunk = std::max<int64_t>(256, std::min<int64_t>(rows, (int64_t(256) << 20) / (cols * 2)) / 256 * 256);
    auto* wh = static_cast<__half*>(ctx.ws->get(Workspace::kWeights, size_t(std::min(chunk, rows) * cols) * 2));
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t m = std::min(chunk, rows - r0);
      dispatch_quant(f, [&]<FormatId F>() {
        decode_to_half<F><<<grid_of(m * cols / 32), kThreads, 0, ctx.stream>>>(wb + size_t(r0) * stride, stride, m, cols, wh);
      });
      check_launch("decode to f16");
      gemm_ex(ctx, wh, CUDA_R_16F, xh, CUDA_R_16F, m, cols, n, t.y + r0, rows);
    }
  }
  return false;
}

void embed(const Context& ctx, FormatId f, const void* table, size_t stride, int64_t cols, const int32_t* ids, int64_t n,
           float scale, float* out) {
  if (n <= 0) return;
  if (f == FormatId::F32) dense_rows_f32<<<grid_of(n * cols), kThreads, 0, ctx.stream>>>(static_cast<const float*>(table), cols, ids, n, scale, out);
  else if (f == FormatId::F16) dense_rows_f32<<<grid_of(n * cols), kThreads, 0, ctx.stream>>>(static_cast<const __half*>(table), cols, ids, n, scale, out);
  else if (f == FormatId::BF16) dense_rows_f32<<<grid_of(n * cols), kThreads, 0, ctx.stream>>>(static_cast<const __nv_bfloat16*>(table), cols, ids, n, scale, out);
  else
    dispatch_quant(f, [&]<FormatId F>() {
      decode_rows_f32<F><<<grid_of(n * cols / 32), kThreads, 0, ctx.stream>>>(static_cast<const uint8_t*>(table), stride, cols, ids, n, scale, out);
    });
  check_launch("embed");
  (void)stride;
}

}  // namespace quantlab::cuda
