// Norms, RoPE, activations and elementwise ops on f32 activations. Each output element is computed
// by one thread, reductions (RMSNorm's sum of squares, in double as on the CPU) by one block in a
// fixed tree, so results repeat bit for bit. Formulas follow src/backend/cpu_ops.cpp.
#include "src/backend/cuda/kernels.hpp"
#include "src/backend/cuda/cuda_common.cuh"

#include <cmath>

namespace quantlab::cuda {
namespace {

constexpr int kThreads = 256;
unsigned grid_of(int64_t n) { return unsigned(ceil_div(n, kThreads)); }

// One block per (row, group): sum of squares in double, then y = (x * scale) * w.
__global__ void rms_norm_kernel(const float* x, const float* w, int64_t cols, int64_t group, float eps, float* y) {
  const int64_t groups_per_row = cols / group;
  const int64_t row = blockIdx.x / groups_per_row, g = blockIdx.x % groups_per_row;
  const float* xs = x + row * cols + g * group;
  float* ys = y + row * cols + g * group;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) s += double(xs[i]) * double(xs[i]);
  __shared__ double part[kThreads];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int o = kThreads / 2; o > 0; o >>= 1) {
    if (int(threadIdx.x) < o) part[threadIdx.x] += part[threadIdx.x + o];
    __syncthreads();
  }
  const float mean = float(part[0] / double(group));
  const float sc = 1.0f / sqrtf(mean + eps);
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) ys[i] = __fmul_rn(__fmul_rn(xs[i], sc), w[i]);
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void add_row_kernel(float* x, const float* b, int64_t n, int64_t cols) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += b[i % cols];
}

__global__ void scale_kernel(float* x, int64_t n, float s) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

__global__ void softcap_kernel(float* x, int64_t n, float cap) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = __fmul_rn(tanhf(__fmul_rn(x[i], 1.0f / cap)), cap);
}

__global__ void swiglu_kernel(float* gate, const float* up, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  gate[i] = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), up[i]);
}

// ggml's GELU: the gate rounded to f16, its GELU read from the f16 table (ops.hpp geglu).
__global__ void geglu_kernel(float* gate, const float* up, int64_t n, const uint16_t* table) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  float v;
  if (g <= -10.0f) v = 0.0f;
  else if (g >= 10.0f) v = __fmul_rn(g, up[i]);
  else v = __fmul_rn(__half2float(__ushort_as_half(table[__half_as_ushort(__float2half_rn(g))])), up[i]);
  gate[i] = v;
}

// One thread per rotated pair. The angle follows rope_angles: theta = pos * theta_scale^i by
// repeated float multiplication, angle = freq_scale * (theta / factor).
__global__ void rope_kernel(float* x, int64_t rows, int64_t cols, int64_t head_dim, int64_t n_rot, bool neox,
                            float theta_scale, float freq_scale, const RopeTables tables, const int32_t* base) {
  const int64_t half = n_rot / 2, heads = cols / head_dim;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * heads * half) return;
  const int64_t i = idx % half, h = (idx / half) % heads, t = idx / (half * heads);
  const int32_t pos = (tables.positions ? tables.positions[t] : tables.inline_positions[t]) + (base ? *base : 0);
  float theta = float(pos);
  for (int64_t j = 0; j < i; ++j) theta = __fmul_rn(theta, theta_scale);
  const float ff = !tables.has_factors ? 1.0f : tables.factors ? tables.factors[i] : tables.inline_factors[i];
  const float angle = __fmul_rn(freq_scale, __fdiv_rn(theta, ff));
  const float c = cosf(angle), s = sinf(angle);
  float* v = x + t * cols + h * head_dim;
  const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
  const float x0 = v[a], x1 = v[b];
  v[a] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
  v[b] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
}

}  // namespace

void rms_norm(const Context& ctx, const float* x, const float* w, int64_t rows, int64_t cols, int64_t group, float eps,
              float* y) {
  if (rows <= 0) return;
  rms_norm_kernel<<<unsigned(rows * (cols / group)), kThreads, 0, ctx.stream>>>(x, w, cols, group, eps, y);
  check_launch("rms_norm");
}

void add(const Context& ctx, float* x, const float* y, int64_t n) {
  if (n <= 0) return;
  add_kernel<<<grid_of(n), kThreads, 0, ctx.stream>>>(x, y, n);
  check_launch("add");
}

void add_row(const Context& ctx, float* x, const float* bias, int64_t rows, int64_t cols) {
  if (rows * cols <= 0) return;
  add_row_kernel<<<grid_of(rows * cols), kThreads, 0, ctx.stream>>>(x, bias, rows * cols, cols);
  check_launch("add_row");
}

void scale(const Context& ctx, float* x, int64_t n, float s) {
  if (n <= 0) return;
  scale_kernel<<<grid_of(n), kThreads, 0, ctx.stream>>>(x, n, s);
  check_launch("scale");
}

void softcap(const Context& ctx, float* x, int64_t n, float cap) {
  if (n <= 0) return;
  softcap_kernel<<<grid_of(n), kThreads, 0, ctx.stream>>>(x, n, cap);
  check_launch("softcap");
}

void gated_activation(const Context& ctx, FfnActivation act, float* gate, const float* up, int64_t n) {
  if (n <= 0) return;
  if (act == FfnActivation::GeluTanh) geglu_kernel<<<grid_of(n), kThreads, 0, ctx.stream>>>(gate, up, n, ctx.gelu_table);
  else swiglu_kernel<<<grid_of(n), kThreads, 0, ctx.stream>>>(gate, up, n);
  check_launch("gated_activation");
}

void rope(const Context& ctx, float* x, int64_t rows, int64_t cols, int64_t head_dim, const RopeParams& p,
          const RopeTables& tables) {
  const int64_t pairs = rows * (cols / head_dim) * (p.n_rot / 2);
  if (pairs <= 0) return;
  // theta_scale as rope_angles computes it (host pow, the same float on both sides).
  const float theta_scale = std::pow(p.freq_base, -2.0f / float(p.n_rot));
  rope_kernel<<<grid_of(pairs), kThreads, 0, ctx.stream>>>(x, rows, cols, head_dim, p.n_rot, p.style == RopeStyle::NeoX,
                                                           theta_scale, p.freq_scale, tables, ctx.step_position);
  check_launch("rope");
}

}  // namespace quantlab::cuda
