// GPTQ's column sweep onto an integer grid on the GPU: one kernel per lazy block. Each thread owns
// one row of the weight and walks the block's columns in order, exactly as the host sweep
// (src/quant/gptq_sweep.hpp with gptq.cpp's quantize step) walks them for each row: fit the group's
// scale and zero at its first column, round the column's value to a code, divide the error by the
// factor's diagonal, push it onto the block's later columns with one fused multiply-add each, and
// add the row's loss. Every step is the same IEEE operation in the same order as on the host
// (quant/int_grid_math.hpp is shared), so the sweep adds no difference of its own: GPU and CPU
// results differ only through the lazy updates between blocks (cuBLAS's order of sums).
//
// The block's weights (rows of the CTA x columns) and its part of the factor live in shared memory:
// 128 columns take 32 KB of weights and 64 KB of factor (its diagonal kept in double).
#include "src/backend/cuda/cuda_common.cuh"
#include "src/backend/cuda/kernels.hpp"

namespace quantlab::cuda {
namespace {

constexpr int kRowsPerCta = 64;

struct SweepArgs {
  const float* wt;      // [cols][rows], the block's columns and those after it
  const double* u;      // [cols][cols]
  const int32_t* perm;  // processing position -> input column
  int64_t rows, cols, i1, nb;
  GptqIntSweep spec;
  int64_t n_groups;
  IntGroupParams* params;  // [rows][n_groups]
  uint8_t* codes;          // [rows][cols], by input column
  float* err;              // [nb][rows]
  double* row_loss;        // [rows]
};

__global__ void __launch_bounds__(kRowsPerCta) sweep_block_kernel(SweepArgs a) {
  extern __shared__ unsigned char smem_raw[];
  double* ud = reinterpret_cast<double*>(smem_raw);   // [nb]: U[c][c]
  float* us = reinterpret_cast<float*>(ud + a.nb);    // [nb][nb]: float(U[c][j])
  float* ws = us + a.nb * a.nb;                       // [nb][kRowsPerCta]
  const int t = threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.x) * kRowsPerCta, r = r0 + t;
  const int64_t nb = a.nb, i1 = a.i1;
  for (int64_t i = t; i < nb * nb; i += kRowsPerCta) {
    const int64_t c = i / nb, j = i % nb;
    const double v = a.u[(i1 + c) * a.cols + i1 + j];
    us[i] = float(v);
    if (c == j) ud[c] = v;
  }
  for (int64_t c = 0; c < nb; ++c) ws[c * kRowsPerCta + t] = r < a.rows ? a.wt[(i1 + c) * a.rows + r] : 0.0f;
  __syncthreads();
  if (r >= a.rows) return;

  const GptqIntSweep& s = a.spec;
  const int64_t gs = s.group_size;
  double loss = a.row_loss[r];
  IntGroupParams p;
  if (!s.fixed_groups && i1 % gs != 0) p = a.params[r * a.n_groups + i1 / gs];  // fitted by an earlier block
  for (int64_t c = 0; c < nb; ++c) {
    const int64_t col = i1 + c;
    if (s.fixed_groups) {
      p = a.params[r * a.n_groups + a.perm[col] / gs];
    } else if (col % gs == 0) {
      // The group's range over its columns as they are now: this block's from shared memory (up to
      // date), later ones from wt (lazy updates of earlier blocks only), as on the host.
      IntGroupRange range;
      range.from_zero = !uses_awq_rule(s.rule, s.symmetric);
      const int64_t end = min(a.cols, col + gs);
      for (int64_t k = col; k < end; ++k) range.add(k < i1 + nb ? ws[(k - i1) * kRowsPerCta + t] : a.wt[k * a.rows + r]);
      p = int_params_from_range(range, s.max_code, s.symmetric);
      a.params[r * a.n_groups + col / gs] = p;
    }
    const float w = ws[c * kRowsPerCta + t];
    const int code = quantize_code(w, p, s.max_code);
    a.codes[r * a.cols + a.perm[col]] = uint8_t(code);
    const float diff = __fsub_rn(w, dequantize_code(code, p));
    const double d = ud[c];
    const float e = float(diff / d);
    loss += double(diff) * diff / (2 * d * d);
    a.err[c * a.rows + r] = e;
    const float* urow = us + c * nb;
#pragma unroll 8
    for (int64_t j = c + 1; j < nb; ++j) ws[j * kRowsPerCta + t] = fmaf(-e, urow[j], ws[j * kRowsPerCta + t]);
  }
  a.row_loss[r] = loss;
}

}  // namespace

size_t gptq_sweep_block_smem(int64_t nb) {
  return size_t(nb) * sizeof(double) + size_t(nb * nb) * sizeof(float) + size_t(nb * kRowsPerCta) * sizeof(float);
}

void gptq_sweep_block(const Context& ctx, const float* wt, const double* u, const int32_t* perm, int64_t rows,
                      int64_t cols, int64_t i1, int64_t nb, const GptqIntSweep& spec, IntGroupParams* params,
                      uint8_t* codes, float* err, double* row_loss) {
  const size_t smem = gptq_sweep_block_smem(nb);
  static bool configured = false;  // per process: the attribute belongs to the kernel
  if (!configured) {
    check(cudaFuncSetAttribute(sweep_block_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               int(gptq_sweep_block_smem(kMaxSweepBlock))),
          "gptq sweep smem");
    configured = true;
  }
  SweepArgs a{wt, u, perm, rows, cols, i1, nb, spec, (cols + spec.group_size - 1) / spec.group_size,
              params, codes, err, row_loss};
  sweep_block_kernel<<<unsigned(ceil_div(rows, kRowsPerCta)), kRowsPerCta, smem, ctx.stream>>>(a);
  check_launch("gptq sweep block");
}

}  // namespace quantlab::cuda
