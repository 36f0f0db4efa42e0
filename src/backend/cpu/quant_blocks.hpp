#pragma once
// The 32-value block formats that have integer kernels (ggml's block_q4_0, block_q4_1, block_q5_0,
// block_q8_0), each described by how a block turns into 32 levels, its scale and its offset term,
// and the portable dot product of quant_dot.hpp over such a description. Internal linkage: included
// by translation units compiled for different instruction sets (see lane_kernels.hpp); f16 values
// are converted by a function the includer passes (h2f), never by a shared inline one.
#include "src/backend/quant_dot.hpp"

#include <cstdint>
#include <cstring>

namespace quantlab::cpu {
namespace {

#pragma pack(push, 1)
struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ8_0) == 34);

template <class B>
const B* block(const void* row, int64_t i) {
  return reinterpret_cast<const B*>(static_cast<const uint8_t*>(row) + size_t(i) * sizeof(B));
}

// value_j = d * (level_j - zero) + m, so per token x (scale dx, levels q):
//   w . x = (d*dx) * sum(level*q) + off_a * off_b, with off_a*off_b = -zero*(d*dx)*sum(q) or m*s.
struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr bool kSigned = false;
  static void levels(const Block& b, uint8_t* l) {
    for (int j = 0; j < 16; ++j) l[j] = b.qs[j] & 0x0F, l[j + 16] = b.qs[j] >> 4;
  }
  template <class H> static float block_const(const Block&, H) { return 0.0f; }
  static float off_a(float, float dd) { return -8.0f * dd; }
  static float off_b(const ActivationBlock& x) { return float(x.qsum); }
};
struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr bool kSigned = false;
  static void levels(const Block& b, uint8_t* l) {
    for (int j = 0; j < 16; ++j) l[j] = b.qs[j] & 0x0F, l[j + 16] = b.qs[j] >> 4;
  }
  template <class H> static float block_const(const Block& b, H h2f) { return h2f(b.m); }  // the minimum m
  static float off_a(float m, float) { return m; }
  static float off_b(const ActivationBlock& x) { return x.s; }
};
struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr bool kSigned = false;
  static void levels(const Block& b, uint8_t* l) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < 16; ++j) l[j] = b.qs[j] & 0x0F, l[j + 16] = b.qs[j] >> 4;
    for (int j = 0; j < 32; ++j) l[j] = uint8_t(l[j] | (((qh >> j) & 1u) << 4));
  }
  template <class H> static float block_const(const Block&, H) { return 0.0f; }
  static float off_a(float, float dd) { return -16.0f * dd; }
  static float off_b(const ActivationBlock& x) { return float(x.qsum); }
};
struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr bool kSigned = true;
  static void levels(const Block& b, uint8_t* l) { std::memcpy(l, b.qs, 32); }
  template <class H> static float block_const(const Block&, H) { return 0.0f; }
  static float off_a(float, float) { return 0.0f; }
  static float off_b(const ActivationBlock&) { return 0.0f; }
};

// Portable: lane l sums products 4l..4l+3 (dpbusd's lanes); two accumulator sets.
template <class F, class H>
float dot_portable(const void* w, const ActivationBlock* x, int64_t nb, H h2f) {
  float acc[2][8] = {}, off[2] = {};
  uint8_t l[32];
  for (int64_t i = 0; i < nb; ++i) {
    const auto& b = *block<typename F::Block>(w, i);
    F::levels(b, l);
    const int set = int(i & 1);
    const float dd = h2f(b.d) * x[i].d;
    for (int lane = 0; lane < 8; ++lane) {
      int32_t s = 0;
      for (int k = 4 * lane; k < 4 * lane + 4; ++k)
        s += (F::kSigned ? int32_t(int8_t(l[k])) : int32_t(l[k])) * int32_t(x[i].q[k]);
      acc[set][lane] = __builtin_fmaf(dd, float(s), acc[set][lane]);
    }
    off[set] = __builtin_fmaf(F::off_a(F::block_const(b, h2f), dd), F::off_b(x[i]), off[set]);
  }
  float a[8], s4[4], s2[2];
  for (int i = 0; i < 8; ++i) a[i] = acc[0][i] + acc[1][i];
  for (int i = 0; i < 4; ++i) s4[i] = a[i] + a[i + 4];
  for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
  return (s2[0] + s2[1]) + (off[0] + off[1]);
}

}  // namespace
}  // namespace quantlab::cpu
