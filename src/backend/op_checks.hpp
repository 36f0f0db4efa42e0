#pragma once
// The argument checks every backend makes before an op, written once so that a shape error reads
// the same on the CPU and the GPU. Messages are built only on failure: these run on every op of a
// decode step. `backend` names the source of the error ("cpu backend", "cuda backend").
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/backend/tensor.hpp"
#include "quantlab/core/error.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace quantlab::detail {

inline std::string shape_text(const Tensor& t) { return std::to_string(t.rows) + " x " + std::to_string(t.cols); }

inline void check_same_shape(const char* backend, const Tensor& a, const Tensor& b, const char* op) {
  if (a.rows != b.rows || a.cols != b.cols)
    throw Error(backend, op, "shapes differ: " + shape_text(a) + " vs " + shape_text(b));
}

// y[tokens][w.rows] = x[tokens][w.cols] * w^T.
inline void check_matmul_shapes(const char* backend, const Tensor& w, const Tensor& x, const Tensor& y) {
  if (x.cols != w.cols || y.cols != w.rows || y.rows != x.rows)
    throw Error(backend, "matmul", "shapes: w " + shape_text(w) + ", x " + shape_text(x) + ", y " + shape_text(y));
}

// inverse_upper_cholesky's h: a packed square F64 tensor on `device`.
inline void check_factor_shape(const char* backend, const Tensor& h, const Device& device) {
  if (h.format != FormatId::F64 || h.device != device || h.rows != h.cols ||
      (h.rows > 1 && h.row_stride != size_t(h.cols) * sizeof(double)))
    throw Error(backend, "inverse_upper_cholesky", "h must be a packed square F64 tensor on " + device.name() +
                                                      ", got " + shape_text(h));
}

inline bool packed_square_f64(const Tensor& h, const Device& device) {
  return h.format == FormatId::F64 && h.device == device && h.rows == h.cols &&
         (h.rows <= 1 || h.row_stride == size_t(h.cols) * sizeof(double));
}

// hessian_in_order: sums and out packed n x n F64 on `device` and distinct, perm a permutation of
// 0..n-1, n diagonal values.
inline void check_hessian_in_order(const char* backend, const Tensor& sums, std::span<const int64_t> perm,
                                   std::span<const double> diagonal, const Tensor& out, const Device& device) {
  if (!packed_square_f64(sums, device) || !packed_square_f64(out, device) || sums.rows != out.rows)
    throw Error(backend, "hessian_in_order", "sums and out must be packed n x n F64 tensors on " + device.name() +
                                                 ", got " + shape_text(sums) + " and " + shape_text(out));
  if (sums.data == out.data) throw Error(backend, "hessian_in_order", "out must not be sums");
  const int64_t n = out.rows;
  if (int64_t(perm.size()) != n || int64_t(diagonal.size()) != n)
    throw Error(backend, "hessian_in_order", "perm and diagonal need " + std::to_string(n) + " values");
  std::vector<char> seen(size_t(n), 0);
  for (int64_t p : perm) {
    if (p < 0 || p >= n || seen[size_t(p)]) throw Error(backend, "hessian_in_order", "perm is not a permutation");
    seen[size_t(p)] = 1;
  }
}

inline void check_column_moments(const char* backend, const Tensor& x, const Tensor& sums, const Device& device) {
  if (!(sums.format == FormatId::F64 && sums.device == device && sums.rows == 2 && sums.cols == x.cols &&
        sums.row_stride == size_t(x.cols) * sizeof(double)))
    throw Error(backend, "column_moments", "sums must be a packed 2 x n F64 tensor on the backend's device, n = x's columns");
}

inline void check_column_abs_sums(const char* backend, const Tensor& x, const Tensor& sums, const Device& device) {
  if (!(sums.format == FormatId::F64 && sums.device == device && sums.rows == 1 && sums.cols == x.cols))
    throw Error(backend, "column_abs_sums", "sums must be a 1 x n F64 tensor on the backend's device, n = x's columns");
}

// awq_scaled_delta: w and delta [rows][cols] F32, s 1 x cols F32, a grid of groups >= 1 wide.
inline void check_awq_scaled_delta(const char* backend, const Tensor& w, const Tensor& s, const IntGroupGrid& grid,
                                   const Tensor& delta, const Device& device) {
  const bool f32 = w.format == FormatId::F32 && s.format == FormatId::F32 && delta.format == FormatId::F32;
  const bool placed = w.device == device && s.device == device && delta.device == device;
  if (!f32 || !placed || s.rows != 1 || s.cols != w.cols || delta.rows != w.rows || delta.cols != w.cols)
    throw Error(backend, "awq_scaled_delta", "w and delta [rows][cols] and s 1 x cols, F32 on " + device.name() +
                                                 ", got w " + shape_text(w) + ", s " + shape_text(s) + ", delta " +
                                                 shape_text(delta));
  if (delta.data == w.data) throw Error(backend, "awq_scaled_delta", "delta must not be w");
  if (grid.group_size < 1 || grid.max_code < 1 || grid.max_code > 255)
    throw Error(backend, "awq_scaled_delta", "grid: groups of at least one column and 1..255 codes");
}

inline void check_awq_clip(const char* backend, const Tensor& w, const Tensor& g, const IntGroupGrid& grid,
                           int clip_grid, int n_shrink, const Device& device) {
  if (w.format != FormatId::F32 || g.format != FormatId::F32 || w.device != device || g.device != device ||
      g.rows != w.cols || g.cols != w.cols)
    throw Error(backend, "awq_clip", "w [rows][cols] and g cols x cols, F32 on " + device.name() + ", got w " +
                                         shape_text(w) + ", g " + shape_text(g));
  if (grid.group_size < 1 || grid.max_code < 1 || grid.max_code > 255 || clip_grid < 1 || n_shrink < 0)
    throw Error(backend, "awq_clip", "grid: groups of at least one column, 1..255 codes, a clip grid of at least 1");
}

inline void check_sum_of_products(const char* backend, const Tensor& a, const Tensor& b, const Device& device) {
  if (a.format != FormatId::F32 || b.format != FormatId::F32 || a.device != device || b.device != device)
    throw Error(backend, "sum_of_products", "a and b must be F32 tensors on " + device.name());
  check_same_shape(backend, a, b, "sum_of_products");
}

inline void check_read_diagonal(const char* backend, const Tensor& h, std::span<const double> out, const Device& device) {
  if (!packed_square_f64(h, device) || int64_t(out.size()) != h.rows)
    throw Error(backend, "read_diagonal", "h must be a packed square F64 tensor on " + device.name() +
                                              " and out hold its n values, got " + shape_text(h));
}

// subtract_transposed_product: c [m][n] -= aᵀ b with a [k][m] (F32 or F64), b [k][n] F32, c F32, all
// on `device`, each row's values contiguous (views of columns allowed).
inline void check_transposed_product_shapes(const char* backend, const Tensor& a, const Tensor& b, const Tensor& c,
                                            const Device& device) {
  const bool formats = (a.format == FormatId::F32 || a.format == FormatId::F64) && b.format == FormatId::F32 &&
                       c.format == FormatId::F32;
  const bool placed = a.device == device && b.device == device && c.device == device;
  if (!formats || !placed || a.rows != b.rows || a.cols != c.rows || b.cols != c.cols)
    throw Error(backend, "subtract_transposed_product",
                "c [m][n] -= aᵀ b needs a [k][m] F32/F64, b [k][n] and c F32 on " + device.name() + ", got a " +
                    shape_text(a) + ", b " + shape_text(b) + ", c " + shape_text(c));
}

// q/out [n][n_head * head_dim], k/v [n][n_head_kv * head_dim] into layer `layer` of a cache of
// `n_layer` layers x `capacity` positions x `cache_kv_dim`, at positions first_pos .. first_pos + n - 1.
inline void check_attention_shapes(const char* backend, const AttentionShape& s, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Tensor& out, int64_t cache_kv_dim, int64_t n_layer,
                                   int64_t capacity, int64_t layer, int64_t first_pos) {
  const int64_t n = q.rows, kv_dim = s.n_head_kv * s.head_dim;
  if (k.rows != n || v.rows != n || out.rows != n || k.cols != kv_dim || v.cols != kv_dim || kv_dim != cache_kv_dim ||
      q.cols != s.n_head * s.head_dim || out.cols != q.cols || layer < 0 || layer >= n_layer)
    throw Error(backend, "attention", "shapes");
  if (first_pos < 0 || first_pos + n > capacity)
    throw Error(backend, "attention",
                "context overflow: " + std::to_string(first_pos) + " + " + std::to_string(n) +
                    " tokens exceed the cache of " + std::to_string(capacity));
}

}  // namespace quantlab::detail
