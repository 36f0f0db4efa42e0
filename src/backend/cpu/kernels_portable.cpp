// The portable kernels: plain C++ with the lane structure spelled out, the reference every SIMD
// path is tested against bit for bit. Built with the baseline flags of the target.
#include "quantlab/core/half.hpp"
#include "src/backend/cpu/lane_kernels.hpp"
#include "src/backend/cpu/kquant_blocks.hpp"
#include "src/backend/cpu/quant_blocks.hpp"

namespace quantlab::cpu {
namespace {

struct PortableArch {
  struct V {
    float v[kLanes];
  };
  static constexpr int kValueBlocks = 16;
  static V zero() { return set1(0.0f); }
  static V set1(float f) {
    V r;
    for (float& x : r.v) x = f;
    return r;
  }
  static V fma(const V& a, const V& b, V c) {
    for (int i = 0; i < kLanes; ++i) c.v[i] = __builtin_fmaf(a.v[i], b.v[i], c.v[i]);
    return c;
  }
  static V mul(const V& a, V b) {
    for (int i = 0; i < kLanes; ++i) b.v[i] = a.v[i] * b.v[i];
    return b;
  }
  static V load_f32(const float* p, int n = kLanes) {
    V r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = p[i];
    return r;
  }
  static V load_f16(const uint16_t* p, int n = kLanes) {
    V r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = fp16_to_f32(p[i]);
    return r;
  }
  static V load_bf16(const uint16_t* p, int n = kLanes) {
    V r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = bf16_to_f32(p[i]);
    return r;
  }
  static void store(float* p, const V& a, int n = kLanes) { std::memcpy(p, a.v, size_t(n) * sizeof(float)); }
  static void pin(V&) {}
  static float hsum(const V& a) {
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; ++i) s8[i] = a.v[i] + a.v[i + 8];
    for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
  }
};

template <class F>
float dot1(const void* w, const ActivationBlock* x, int64_t nb) {
  return dot_portable<F>(w, x, nb, fp16_to_f32);
}
template <class F>
void dot4(const void* w, const ActivationBlock* const* x, int64_t nb, float* out) {
  for (int c = 0; c < 4; ++c) out[c] = dot_portable<F>(w, x[c], nb, fp16_to_f32);
}

const QuantDotKernels* find_quant_dot_portable(FormatId format) {
  static const QuantDotKernels q4_0{dot1<Q4_0>, dot4<Q4_0>};
  static const QuantDotKernels q4_1{dot1<Q4_1>, dot4<Q4_1>};
  static const QuantDotKernels q5_0{dot1<Q5_0>, dot4<Q5_0>};
  static const QuantDotKernels q8_0{dot1<Q8_0>, dot4<Q8_0>};
  switch (format) {
    case FormatId::Q4_0: return &q4_0;
    case FormatId::Q4_1: return &q4_1;
    case FormatId::Q5_0: return &q5_0;
    case FormatId::Q8_0: return &q8_0;
    default: return nullptr;
  }
}

template <class F>
float kdot1(const void* w, const ActivationBlockK* x, int64_t nb) {
  return kdot_portable<F>(w, x, nb, fp16_to_f32);
}
template <class F>
void kdot4(const void* w, const ActivationBlockK* const* x, int64_t nb, float* out) {
  for (int c = 0; c < 4; ++c) out[c] = kdot_portable<F>(w, x[c], nb, fp16_to_f32);
}

const KQuantDotKernels* find_kquant_dot_portable(FormatId format) {
  static const KQuantDotKernels q2{kdot1<Q2_K>, kdot4<Q2_K>};
  static const KQuantDotKernels q3{kdot1<Q3_K>, kdot4<Q3_K>};
  static const KQuantDotKernels q4{kdot1<Q4_K>, kdot4<Q4_K>};
  static const KQuantDotKernels q5{kdot1<Q5_K>, kdot4<Q5_K>};
  static const KQuantDotKernels q6{kdot1<Q6_K>, kdot4<Q6_K>};
  switch (format) {
    case FormatId::Q2_K: return &q2;
    case FormatId::Q3_K: return &q3;
    case FormatId::Q4_K: return &q4;
    case FormatId::Q5_K: return &q5;
    case FormatId::Q6_K: return &q6;
    default: return nullptr;
  }
}

}  // namespace

const KernelTable* portable_kernels() {
  static const KernelTable table = [] {
    KernelTable t = make_lane_table<PortableArch>("portable");
    t.quant_dot = find_quant_dot_portable;
    t.kquant_dot = find_kquant_dot_portable;
    t.quantize_q8 = quantize_activations;
    return t;
  }();
  return &table;
}

}  // namespace quantlab::cpu
