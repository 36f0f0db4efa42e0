#pragma once
// The f32 kernels of kernel_table.hpp written once over an "arch": a 16-lane float vector type and
// its operations (zero, set1, fma, mul, loads with an optional count, stores, hsum). Each
// instruction-set translation unit includes this with its own arch, so the portable, AVX2 and
// AVX-512 kernels are the same operations in the same order; only the instructions differ.
//
// Everything here has internal linkage on purpose: each translation unit is compiled with its own
// -m flags, and an inline function with external linkage could be merged by the linker into the
// copy compiled for a wider instruction set than the CPU has. For the same reason the kernels call
// no inline library functions with floating-point code (only builtins).
#include "src/backend/cpu/kernel_table.hpp"

#include <cstdint>
#include <cstring>
#include <utility>

namespace quantlab::cpu {
namespace {

template <class A, TileSource S>
inline typename A::V load_w(const void* row, int64_t k) {
  if constexpr (S == TileSource::F32) return A::load_f32(static_cast<const float*>(row) + k);
  else if constexpr (S == TileSource::F16) return A::load_f16(static_cast<const uint16_t*>(row) + k);
  else return A::load_bf16(static_cast<const uint16_t*>(row) + k);
}
template <class A, TileSource S>
inline typename A::V load_w(const void* row, int64_t k, int n) {
  if constexpr (S == TileSource::F32) return A::load_f32(static_cast<const float*>(row) + k, n);
  else if constexpr (S == TileSource::F16) return A::load_f16(static_cast<const uint16_t*>(row) + k, n);
  else return A::load_bf16(static_cast<const uint16_t*>(row) + k, n);
}

// Lane l of an accumulator sums the products of elements k with k % 16 == l by FMA, k increasing.
template <class A, TileSource S, int R, int C>
void tile(const TileArgs& a) {
  using V = typename A::V;
  V acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = a.first ? A::zero() : A::load_f32(a.acc + (r * C + c) * kLanes);
  int64_t k = 0;
  for (; k + kLanes <= a.len; k += kLanes) {
    V xv[C];
    for (int c = 0; c < C; ++c) {
      xv[c] = A::load_f32(a.x[c] + k);
      A::pin(xv[c]);
    }
    for (int r = 0; r < R; ++r) {
      V wv = load_w<A, S>(a.w[r], k);
      A::pin(wv);
      for (int c = 0; c < C; ++c) acc[r][c] = A::fma(wv, xv[c], acc[r][c]);
    }
  }
  if (k < a.len) {
    const int n = int(a.len - k);
    V xv[C];
    for (int c = 0; c < C; ++c) xv[c] = A::load_f32(a.x[c] + k, n);
    for (int r = 0; r < R; ++r) {
      const V wv = load_w<A, S>(a.w[r], k, n);
      for (int c = 0; c < C; ++c) acc[r][c] = A::fma(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      if (a.last) a.y[c * a.y_stride + r] = A::hsum(acc[r][c]);
      else A::store(a.acc + (r * C + c) * kLanes, acc[r][c]);
    }
}

template <class A, TileSource S, int... I>
void fill_tiles(TileFn (&t)[kTileRows][kTileTokens], std::integer_sequence<int, I...>) {
  ((t[I / kTileTokens][I % kTileTokens] = tile<A, S, I / kTileTokens + 1, I % kTileTokens + 1>), ...);
}

template <class A>
float dot_f32(const float* a, const float* b, int64_t n) {
  typename A::V acc = A::zero();
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) acc = A::fma(A::load_f32(a + k), A::load_f32(b + k), acc);
  if (k < n) acc = A::fma(A::load_f32(a + k, int(n - k)), A::load_f32(b + k, int(n - k)), acc);
  return A::hsum(acc);
}

template <class A>
void widen_f16_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) A::store(dst + i, A::load_f16(src + i));
  if (i < n) A::store(dst + i, A::load_f16(src + i, int(n - i)), int(n - i));
}
template <class A>
void widen_bf16_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) A::store(dst + i, A::load_bf16(src + i));
  if (i < n) A::store(dst + i, A::load_bf16(src + i, int(n - i)), int(n - i));
}

// Each score is its own FMA chain over d (so the vector width is free); 4 blocks of 16 positions
// at a time give 4 independent chains to hide the FMA latency.
template <class A>
void attention_scores(const float* q, const float* keys_t, int64_t ctx_stride, int64_t head_dim, int64_t n,
                      float scale, float* scores) {
  using V = typename A::V;
  const V vscale = A::set1(scale);
  int64_t j = 0;
  for (; j + 4 * kLanes <= n; j += 4 * kLanes) {
    V acc[4] = {A::zero(), A::zero(), A::zero(), A::zero()};
    for (int64_t d = 0; d < head_dim; ++d) {
      const V qd = A::set1(q[d]);
      const float* row = keys_t + d * ctx_stride + j;
      for (int b = 0; b < 4; ++b) acc[b] = A::fma(qd, A::load_f32(row + kLanes * b), acc[b]);
    }
    for (int b = 0; b < 4; ++b) A::store(scores + j + kLanes * b, A::mul(acc[b], vscale));
  }
  for (; j < n; j += kLanes) {
    const int m = n - j >= kLanes ? kLanes : int(n - j);
    V acc = A::zero();
    for (int64_t d = 0; d < head_dim; ++d) acc = A::fma(A::set1(q[d]), A::load_f32(keys_t + d * ctx_stride + j, m), acc);
    A::store(scores + j, A::mul(acc, vscale), m);
  }
}

// Each output dimension is its own FMA chain over the positions j in order; A::kValueBlocks blocks
// of 16 dimensions are in flight at once (as many as the registers hold).
template <class A>
void attention_values(const float* p, const float* values, int64_t v_stride, int64_t head_dim, int64_t n, float* out) {
  using V = typename A::V;
  constexpr int kMax = A::kValueBlocks;
  for (int64_t d0 = 0; d0 < head_dim; d0 += kMax * kLanes) {
    const int64_t dims = head_dim - d0 < kMax * kLanes ? head_dim - d0 : kMax * kLanes;
    const int blocks = int((dims + kLanes - 1) / kLanes);
    const int tail = int(dims - (blocks - 1) * kLanes);  // values in the last block
    V acc[kMax];
    for (int b = 0; b < blocks; ++b) acc[b] = A::zero();
    for (int64_t j = 0; j < n; ++j) {
      const V pj = A::set1(p[j]);
      const float* row = values + j * v_stride + d0;
      for (int b = 0; b + 1 < blocks; ++b) acc[b] = A::fma(pj, A::load_f32(row + kLanes * b), acc[b]);
      acc[blocks - 1] = A::fma(pj, A::load_f32(row + kLanes * (blocks - 1), tail), acc[blocks - 1]);
    }
    for (int b = 0; b + 1 < blocks; ++b) A::store(out + d0 + kLanes * b, acc[b]);
    A::store(out + d0 + kLanes * (blocks - 1), acc[blocks - 1], tail);
  }
}

// The f32 part of a kernel table for arch A (quant_dot is filled by the caller).
template <class A>
KernelTable make_lane_table(const char* name) {
  KernelTable t{};
  t.name = name;
  fill_tiles<A, TileSource::F32>(t.tiles[0], std::make_integer_sequence<int, kTileRows * kTileTokens>());
  fill_tiles<A, TileSource::F16>(t.tiles[1], std::make_integer_sequence<int, kTileRows * kTileTokens>());
  fill_tiles<A, TileSource::BF16>(t.tiles[2], std::make_integer_sequence<int, kTileRows * kTileTokens>());
  t.dot_f32 = dot_f32<A>;
  t.f16_to_f32 = widen_f16_row<A>;
  t.bf16_to_f32 = widen_bf16_row<A>;
  t.attention_scores = attention_scores<A>;
  t.attention_values = attention_values<A>;
  return t;
}

}  // namespace
}  // namespace quantlab::cpu
