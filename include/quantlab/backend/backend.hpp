#pragma once
// The op interface every device implements (DESIGN.md "backend"): the block definitions of
// src/model/ are written once against it, and run on the CPU or a GPU by handing them another
// Backend. Activations are f32 tensors [tokens][features] the backend allocated; weights are
// tensors in any registry format the backend has placed on its device (`place`).
//
// Numerics. The CPU backend is the reference: its results do not depend on the thread count or
// the SIMD path (see matmul.hpp and ops.hpp), and a batch of tokens gives the bits of the same
// tokens one at a time. A GPU backend gives the same bits run to run, and matches the CPU by a
// normalized error stated in tests/backend/backend_parity_test.cpp.
#include "quantlab/backend/device.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/backend/tensor.hpp"
#include "quantlab/backend/thread_pool.hpp"

#include "quantlab/quant/int_grid_math.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace quantlab {

// Keys and values of `n_layer` layers for `capacity` positions, in whatever layout the backend's
// attention reads fastest (the CPU keeps keys transposed per head).
class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual int64_t capacity() const = 0;
};

// GPTQ's column sweep onto an integer grid (Backend::gptq_int_sweep; quant/gptq.cpp).
struct GptqIntSweep {
  int max_code = 15;
  bool symmetric = false;
  IntGridRule rule = IntGridRule::AutoGptq;
  int64_t group_size = 128;   // columns per group (the last may be narrower)
  // true: every group's parameters are given (static groups, per-channel grids) and processing
  // position i uses group perm[i] / group_size; false: group i / group_size, fitted at its first
  // column in processing order from the weights as they are then.
  bool fixed_groups = false;
  int64_t block_size = 128;  // lazy-batch width
};

// A grid of integer groups along each row (quant/int_grid.hpp's IntGridSpec as a device op sees it).
struct IntGroupGrid {
  int max_code = 15;
  bool symmetric = false;
  IntGridRule rule = IntGridRule::AutoGptq;
  int64_t group_size = 128;  // columns per group (the last may be narrower)
};

// Columns per block of a GPU's Gram product with TF32 allowed (Backend::gram_accumulate): its f32
// scratch is n x this, ~256 MiB at most (memory plans count it).
inline int64_t gpu_gram_tf32_block(int64_t n) {
  return n < 128 ? n : std::min<int64_t>(n, std::max<int64_t>(128, ((int64_t(64) << 20) / n) / 128 * 128));
}

// How a KV cache keeps keys and values: as the backend prefers (a GPU: f16, as llama.cpp's default
// cache, half the memory and bandwidth of a decode step) or exactly as computed (f32: calibration,
// whose statistics must agree with the CPU's to 1e-5, not f16's 2^-11). The CPU always keeps f32.
enum class KvStorage { Compact, Exact };

// The ops of one decode step recorded once and replayed at later positions (a CUDA graph): a GPU
// spends a few microseconds launching each of the ~20 kernels per layer, longer than most of them
// run, so a 7B decode step issued op by op leaves the GPU idle half the time.
class StepGraph {
 public:
  virtual ~StepGraph() = default;
  // Issues the recorded ops again as if they had been issued at `position` instead of the
  // recording's: every position given to rope and attention moves by the same amount. Returns
  // false, issuing nothing, when a buffer the recording used has been freed or regrown since
  // (record again then).
  virtual bool replay(int64_t position) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // One line for logs and JSON: "cpu (avx512, 2 threads)", "cuda:0 (NVIDIA H100 80GB HBM3)".
  virtual std::string describe() const = 0;

  // ---- memory
  // A tensor of rows x cols values of `format` on this device, contents undefined.
  virtual Tensor alloc(FormatId format, int64_t rows, int64_t cols) = 0;
  // `t` on this device: `t` itself when it is there already (the CPU never copies host tensors),
  // otherwise an owning copy. A GPU backend may store a format in a layout of its own.
  virtual Tensor place(const Tensor& t) = 0;
  // Copies the bytes of `t` (rows packed back to back) to host memory / from host memory into `t`.
  virtual void to_host(const Tensor& t, void* dst) = 0;
  virtual void from_host(const void* src, Tensor& t) = 0;
  // Lets products of f32 weights with f32 activations (more than a few tokens), and Gram matrices
  // (gram_accumulate: per chunk of tokens, summed in f32, then added to the double sums), round
  // their inputs to TF32 (10-bit mantissas, as f16 has) on a GPU's tensor cores, ~8x faster than
  // exact f32 products; off by default. The CPU has no such path and ignores it. Results still
  // repeat bit for bit.
  virtual void allow_tf32(bool /*on*/) {}
  // Waits until every op issued so far has finished (a no-op on the CPU).
  virtual void synchronize() {}
  // Sets every value of `t` to zero (a GPU's accumulators start from nothing without a host copy).
  virtual void zero(Tensor& t) = 0;
  // dst = src, both on this device, same format and shape (a GPU copies device to device: a
  // calibration pass that must leave the hidden states as they were works on a copy).
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  // The device memory this backend holds and has held at most; all zero on the CPU, whose memory
  // is the process's (its resident set).
  virtual DeviceMemoryUse memory_use() const { return {}; }

  // ---- ops; every output is overwritten, inputs and outputs may alias only where stated.
  // y[t][r] = sum_k w[r][k] * x[t][k]: x is [tokens][w.cols] f32, y is [tokens][w.rows] f32.
  virtual void matmul(const Tensor& w, const Tensor& x, Tensor& y) = 0;
  // y[i] = w[i] x for weight matrices that read the same input (Q/K/V, gate/up), with the bits of
  // a matmul call for each; a GPU backend runs them as one kernel when their formats agree.
  virtual void matmul_group(std::span<const Tensor* const> w, const Tensor& x, std::span<Tensor* const> y) {
    for (size_t i = 0; i < w.size(); ++i) matmul(*w[i], x, *y[i]);
  }
  // out[t] = scale * decode(table row ids[t]); out is [ids.size()][table.cols] f32. The table may
  // be a host tensor on every backend (a model's embedding is read a few rows at a time, so it
  // stays in host memory); ids outside the table throw.
  virtual void embed(const Tensor& table, std::span<const int32_t> ids, float scale, Tensor& out) = 0;
  // y = x / rms(x) * weight over every group of `weight.cols` consecutive values of each row (the
  // whole row, or one attention head); weight is 1 x group f32. y may be x.
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) = 0;
  // x += y (same shape).
  virtual void add(Tensor& x, const Tensor& y) = 0;
  // Every row of x += bias (1 x x.cols).
  virtual void add_row(Tensor& x, const Tensor& bias) = 0;
  // x *= s.
  virtual void scale(Tensor& x, float s) = 0;
  // Rotary embedding of every head (x.cols = heads * head_dim) of row t at position positions[t].
  virtual void rope(Tensor& x, int64_t head_dim, const RopeParams& p, std::span<const int32_t> positions) = 0;
  // gate = act(gate) * up (the gated FFN's hidden state).
  virtual void gated_activation(FfnActivation act, Tensor& gate, const Tensor& up) = 0;
  // x = cap * tanh(x / cap).
  virtual void softcap(Tensor& x, float cap) = 0;

  // ---- attention
  virtual std::unique_ptr<KvCache> make_kv_cache(int64_t n_layer, int64_t capacity, int64_t kv_dim,
                                                 KvStorage storage = KvStorage::Compact) = 0;
  // Stores k and v ([n][n_head_kv * head_dim]) at positions first_pos .. first_pos + n - 1 of
  // `layer`, then computes causal attention for the n queries q ([n][n_head * head_dim]) at those
  // positions against positions 0 .. own position of the cache (the last s.window of them when a
  // window is set) into out ([n][n_head * head_dim]). Throws if the cache would overflow.
  virtual void attention(const AttentionShape& s, const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                         int64_t layer, int64_t first_pos, Tensor& out) = 0;

  // ---- calibration statistics
  // sum += xᵀx: x is [tokens][n] f32, sum an n x n F64 tensor of which the upper triangle (i <= j)
  // is updated and the strict lower one left alone (GPTQ's Hessian, AWQ's second moments). The CPU
  // computes linalg.hpp's gram_accumulate sequence (exact products summed token after token); a
  // GPU sums the same exact products in double, in its BLAS's order (with allow_tf32: see there).
  virtual void gram_accumulate(const Tensor& x, Tensor& sum) = 0;

  // sums += column moments of x ([tokens][n] f32): sums is a 2 x n F64 tensor, row 0 Σ x², row 1
  // Σ x per column (an importance matrix's statistics), each column's terms added in token order
  // (linalg.hpp's column_moments): the same bits on every backend for the same x.
  virtual void column_moments(const Tensor& x, Tensor& sums) = 0;

  // sums[0][c] += Σ_t |x[t][c]| (sums: 1 x n F64, x: [tokens][n] F32), each column's terms added in
  // token order: the same bits on every backend (AWQ's mean |x| per input channel).
  virtual void column_abs_sums(const Tensor& x, Tensor& sums) = 0;

  // ---- AWQ's scale search (quant/awq.hpp)
  // delta = Q(w·s)/s - w for one candidate scaling s (1 x cols F32) of w ([rows][cols] F32): each
  // row's groups of grid.group_size columns of w·s fitted and rounded by int_grid_math.hpp, the
  // result divided by s again (quant/awq_math.hpp, shared by every backend: the same bits).
  // delta: [rows][cols] F32, not w.
  virtual void awq_scaled_delta(const Tensor& w, const Tensor& s, const IntGroupGrid& grid, Tensor& delta) = 0;
  // start + Σ_r Σ_c a[r][c]·b[r][c] for a and b [rows][cols] F32 of one shape: each row's products
  // summed in double (the CPU in column order, a GPU in a fixed order of its own), the rows' sums
  // added to `start` one after the other in row order. Same bits run to run on every backend.
  virtual double sum_of_products(const Tensor& a, const Tensor& b, double start) = 0;

  // AWQ's clipping (quant/awq.hpp): for each row and group of w ([rows][cols] F32, changed in
  // place), the threshold t among awq_clip_candidate(amax, k, clip_grid), k < n_shrink (amax: the
  // group's largest |w|), whose candidate d = awq_clipped_delta_group gives the smallest output
  // error Σ_i d_i (Σ_j d_j G[j][i]) over the group's diagonal block of g (cols x cols F32,
  // symmetric); the group is then clamped to [-t, t]. Each inner sum is a chain of fused
  // multiply-adds in increasing j from 0, the outer sum in double in increasing i, the first
  // smallest wins: the same bits on every backend.
  virtual void awq_clip(Tensor& w, const Tensor& g, const IntGroupGrid& grid, int clip_grid, int n_shrink) = 0;

  // ---- GPTQ's linear algebra (linalg.hpp defines both; the CPU computes exactly those sequences)
  // h: a packed n x n F64 tensor holding a symmetric positive definite H (both triangles). Replaces
  // it by the upper triangular U with H⁻¹ = UᵀU, strict lower triangle zero. Returns false when H
  // is not positive definite; h's contents are then undefined on a GPU (the CPU restores them).
  // A GPU factors with its solver library in double (Cholesky, inverse, Cholesky of the inverse:
  // the same U up to rounding).
  virtual bool inverse_upper_cholesky(Tensor& h) = 0;
  // GPTQ's Hessian in processing order: out[i][j] = scale * sums[min(p_i, p_j)][max(p_i, p_j)] off
  // the diagonal (only the upper triangle of `sums`, an n x n F64 tensor, is read: a Gram sum) and
  // out[i][i] = diagonal[i] (the damped diagonal, in processing order), p = perm, a permutation of
  // 0..n-1. out: a packed n x n F64 tensor on this device, not `sums`. Each value is one product:
  // the same on every device.
  virtual void hessian_in_order(const Tensor& sums, double scale, std::span<const int64_t> perm,
                                std::span<const double> diagonal, Tensor& out) = 0;
  // out[i] = h[i][i] for a packed n x n F64 tensor h on this device (out: n values in host memory).
  virtual void read_diagonal(const Tensor& h, std::span<double> out) = 0;
  // c -= aᵀ b, GPTQ's lazy-batch update: a is [k][m] F32 or F64 (each value rounded to f32 first),
  // b is [k][n] F32, c is [m][n] F32; each may be a strided view (Tensor::columns). The CPU sums
  // every element with fused multiply-adds in increasing k; a GPU in its BLAS's order, in f32.
  virtual void subtract_transposed_product(const Tensor& a, const Tensor& b, Tensor& c) = 0;
  // GPTQ's whole column sweep onto an integer grid on this device: what quant/gptq_sweep.hpp's
  // sweep does on the host with gptq.cpp's quantize step, each row's steps the same operations in
  // the same order, the lazy updates between blocks subtract_transposed_product's. wt: the weight
  // transposed ([cols][rows] F32, host or device; not changed), columns in processing order (row i
  // holds input perm[i]); u: GPTQ's factor in that order (cols x cols F64 on this device). params:
  // [rows][n_groups] (read when spec.fixed_groups, else written); codes: [rows][cols] by input
  // column; row_loss: each row's Σ (w - q)² / (2 d²). Returns false, doing nothing, on a backend
  // that has no such kernel (the CPU) or for a block size it does not take: the caller sweeps on
  // the host.
  virtual bool gptq_int_sweep(const Tensor& /*wt*/, const Tensor& /*u*/, const GptqIntSweep& /*spec*/,
                              std::span<const int64_t> /*perm*/, std::span<IntGroupParams> /*params*/,
                              std::span<uint8_t> /*codes*/, std::span<double> /*row_loss*/) {
    return false;
  }

  // ---- step graphs
  // Runs `ops` (the backend ops of one decode step at `position`) and returns them recorded for
  // replay, or null where this backend gains nothing from recording (the CPU). `ops` must issue
  // the same ops with the same shapes and buffers at every position, must not read results back
  // to the host, and must not allocate. Replays give the bits of issuing the ops again.
  virtual std::unique_ptr<StepGraph> run_and_record(int64_t position, const std::function<void()>& ops) {
    (void)position;
    ops();
    return nullptr;
  }
};

// The CPU backend over `pool` (the pool must outlive it).
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool);
// The backend of `device`: the CPU backend, or the CUDA backend of GPU device.index (throws
// naming the device when this build has no CUDA or no such GPU). `pool` serves the CPU backend and
// the host-side work of a GPU backend.
std::unique_ptr<Backend> make_backend(const Device& device, ThreadPool& pool);

}  // namespace quantlab
