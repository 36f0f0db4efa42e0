#pragma once
// The launch functions of the CUDA backend's kernels, one .cu file per op family; cuda_backend.cu
// checks shapes and calls these. All pointers are device pointers; every launch goes on ctx.stream.
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/formats/format.hpp"

#include <cublas_v2.h>
#include <cusolverDn.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace quantlab::cuda {

// Counts the events that invalidate step graphs (step_graph.cuh): device buffers given back (any
// of them may be one a graph uses) and workspace slots regrown. Tensors may be dropped on any thread.
struct BufferEvents {
  std::atomic<uint64_t> count{0};
  void note() { count.fetch_add(1, std::memory_order_relaxed); }
  uint64_t stamp() const { return count.load(std::memory_order_relaxed); }
};

// Scratch buffers that grow on demand, one per slot, reused by every op (one stream: an op's
// scratch is free once the next op starts). Growing frees the old buffer, which waits for the GPU.
class Workspace {
 public:
  enum Slot { kActivations, kWeights, kPartials, kSmall, kGram, kLinalg, kSlots };
  Workspace() : ptr_(kSlots, nullptr), size_(kSlots, 0) {}
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get(Slot slot, size_t bytes);
  // Told when a slot moves to a larger buffer (step graphs recorded before hold the old one).
  BufferEvents* events = nullptr;

 private:
  std::vector<void*> ptr_;
  std::vector<size_t> size_;
};

struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  Workspace* ws = nullptr;
  int sm_count = 1;
  const uint16_t* gelu_table = nullptr;  // 65536 f16 values, ggml's GELU table (see ops.hpp geglu)
  // While a step graph is recorded: a device int the graph's replays set to their position; the
  // positions handed to rope, kv_store and attention are then offsets from it. Null otherwise.
  const int32_t* step_position = nullptr;
  // f32 x f32 products on TF32 tensor cores (Backend::allow_tf32).
  bool tf32 = false;
};

// ---- matmul.cu
// Whether matmul takes weights of this format.
bool matmul_supported(FormatId f);
// Matrices one matmul call multiplies with the same activations (at most kMaxMatmulGroup).
inline constexpr int kMaxMatmulGroup = 4;
struct MatmulTarget {
  const void* w;  // [rows][cols] in the call's format, rows of the call's row_stride bytes
  float* y;       // [n][rows]
  int64_t rows;
};
// y[t][r] = sum_k w[r][k] * x[t][k] for every target; x [n][cols]. Each target's result has the
// bits of a call with it alone; decode (n <= 8) runs them all in one kernel.
// x_rounded: the workspace still holds this x rounded to 8 bits for `f` (an earlier matmul on the
// same x with a format of the same activation_rounding). Returns whether the workspace holds x
// rounded that way after the call.
bool matmul(const Context& ctx, FormatId f, size_t row_stride, int64_t cols, std::span<const MatmulTarget> targets,
            const float* x, int64_t n, bool x_rounded);
// Which 8-bit rounding the activations of `f` weights get (-1: none, dense weights).
int activation_rounding(FormatId f);
// Decodes `n` rows ids[t] (device) of a table into out [n][cols], times scale when it is not 1.
bool decode_supported(FormatId f);
void embed(const Context& ctx, FormatId f, const void* table, size_t row_stride, int64_t cols, const int32_t* ids,
           int64_t n, float scale, float* out);

// ---- gram.cu
// sums [2][n] += column moments (Σx², Σx) of x [tokens][n] (row stride in floats), token order per column.
void column_moments(const Context& ctx, const float* x, int64_t tokens, int64_t n, int64_t stride, double* sums);
// sums [n] += Σ|x| per column of x [tokens][n], token order per column.
void column_abs_sums(const Context& ctx, const float* x, int64_t tokens, int64_t n, int64_t stride, double* sums);
// sum (n x n doubles, row-major) += xᵀx over x [tokens][n]: the upper triangle (i <= j) only.
void gram_accumulate(const Context& ctx, const float* x, int64_t tokens, int64_t n, double* sum);

// ---- gptq_linalg.cu
// h (n x n doubles, row-major, symmetric) becomes the upper U with H⁻¹ = UᵀU (strict lower zero);
// false when H is not positive definite (h is then overwritten).
bool inverse_upper_cholesky(const Context& ctx, cusolverDnHandle_t solver, double* h, int64_t n);
// out [n][n] = GPTQ's Hessian in processing order: out[i][j] = scale * sums[min(p_i, p_j)][max(..)]
// (sums: the upper triangle is read) off the diagonal, diag[i] on it; order_and_diag on the device
// holds n doubles (diag) then n int32 (p).
void hessian_in_order(const Context& ctx, const double* sums, double scale, const void* order_and_diag, int64_t n,
                      double* out);
// out[i] = h[i][i] (device doubles) for i < n.
void read_diagonal(const Context& ctx, const double* h, int64_t n, double* out);
// c [m][n] -= aᵀ b with a [k][m] (doubles rounded to f32 first when a_f64), b [k][n], row strides
// in elements.
void subtract_transposed_product(const Context& ctx, const void* a, bool a_f64, int64_t lda, const float* b,
                                 int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k);

// ---- gptq_sweep.cu
// GPTQ's int-grid column sweep of the lazy block [i1, i1 + nb) (Backend::gptq_int_sweep), nb <= kMaxSweepBlock.
constexpr int64_t kMaxSweepBlock = 128;
void gptq_sweep_block(const Context& ctx, const float* wt, const double* u, const int32_t* perm, int64_t rows,
                      int64_t cols, int64_t i1, int64_t nb, const GptqIntSweep& spec, IntGroupParams* params,
                      uint8_t* codes, float* err, double* row_loss);

// ---- awq_search.cu
// delta [rows][cols] = Q(w·s)/s - w group by group (Backend::awq_scaled_delta; quant/awq_math.hpp).
void awq_scaled_delta(const Context& ctx, const float* w, const float* s, int64_t rows, int64_t cols,
                      const IntGroupGrid& grid, float* delta);
// start + Σ a[r][c]·b[r][c] over [rows][cols] (packed), each row reduced in a fixed tree order in
// double and the rows added in order; the result is read back (waits for the stream).
double sum_of_products(const Context& ctx, const float* a, const float* b, int64_t rows, int64_t cols, double start);

// w [rows][cols] clamped group by group to AWQ's best clipping threshold (Backend::awq_clip); g: cols x cols.
void awq_clip(const Context& ctx, float* w, const float* g, int64_t rows, int64_t cols, const IntGroupGrid& grid,
              int clip_grid, int n_shrink);

// ---- elementwise.cu
void rms_norm(const Context& ctx, const float* x, const float* w, int64_t rows, int64_t cols, int64_t group, float eps,
              float* y);
void add(const Context& ctx, float* x, const float* y, int64_t n);
void add_row(const Context& ctx, float* x, const float* bias, int64_t rows, int64_t cols);
void scale(const Context& ctx, float* x, int64_t n, float s);
void softcap(const Context& ctx, float* x, int64_t n, float cap);
void gated_activation(const Context& ctx, FfnActivation act, float* gate, const float* up, int64_t n);
// Positions and frequency factors of a RoPE call: small ones travel inside the kernel's arguments
// (a decode step then needs no host-to-device copy), larger ones as device arrays.
struct RopeTables {
  static constexpr int kInlinePositions = 32, kInlineFactors = 64;
  const int32_t* positions = nullptr;  // device array of rows ints, or null: inline_positions
  const float* factors = nullptr;      // device array of n_rot/2 floats, or null: inline_factors if has_factors
  bool has_factors = false;
  int32_t inline_positions[kInlinePositions];
  float inline_factors[kInlineFactors];
};
void rope(const Context& ctx, float* x, int64_t rows, int64_t cols, int64_t head_dim, const RopeParams& p,
          const RopeTables& tables);

// ---- attention.cu
// Keys and values of one layer, [capacity][kv_dim] each: f16, or f32 when `exact` (KvStorage).
struct KvLayer {
  void* keys;
  void* values;
  bool exact;
};
void kv_store(const Context& ctx, const float* k, const float* v, int64_t n, int64_t kv_dim, int64_t first_pos,
              const KvLayer& kv);
// `capacity`: positions the cache holds (a one-token step splits its keys by it, not by its own
// position, so that a step graph recorded at one position replays the same split at every other).
void attention(const Context& ctx, const AttentionShape& s, const float* q, const KvLayer& kv, int64_t first_pos,
               int64_t n, int64_t capacity, float* out);

}  // namespace quantlab::cuda
