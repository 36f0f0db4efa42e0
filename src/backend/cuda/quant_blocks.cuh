#pragma once
// Device-side decoding of the GGUF block formats (ggml's layouts, see src/formats/*.cpp), 32 values
// at a time: every format is read as blocks of 32 consecutive values, each 16-value half with one
// scale d and one offset m (value = d * q + m, q a signed 8-bit level). The matrix kernels take the
// levels as packed int8 words (4 per word, in value order) for __dp4a, the decoders to f16/f32
// compute d * q + m with explicit roundings (no contraction into an FMA), as the CPU decoders do.
#include "src/backend/cuda/cuda_common.cuh"

#include "quantlab/formats/format.hpp"

namespace quantlab::cuda {

struct Block32 {
  uint32_t q[8];  // levels of values 0..31, four signed bytes per word
  float d0, m0;   // values 0..15
  float d1, m1;   // values 16..31
};

// Spreads the 4 low bits of `bits` to bit 0 of each byte (no carries: the shifted copies never meet).
__device__ __forceinline__ uint32_t spread4(uint32_t bits) { return ((bits & 0xF) * 0x00204081u) & 0x01010101u; }

// Looks 4 nibble indices (one per byte, 0..15) up in a 16-entry int8 table held in 4 words.
__device__ __forceinline__ uint32_t table16(uint32_t idx, uint32_t t0, uint32_t t1, uint32_t t2, uint32_t t3) {
  const uint32_t lo3 = idx & 0x07070707u;
  const uint32_t c = lo3 | (lo3 >> 4);
  const uint32_t sel = (c & 0xFFu) | ((c >> 8) & 0xFF00u);  // byte i's index in nibble i
  const uint32_t low = __byte_perm(t0, t1, sel);
  const uint32_t high = __byte_perm(t2, t3, sel);
  const uint32_t h8 = (idx & 0x08080808u) >> 1;               // 4 where the index is >= 8
  const uint32_t hc = h8 | (h8 >> 4);
  const uint32_t pick = 0x3210u + ((hc & 0xFFu) | ((hc >> 8) & 0xFF00u));
  return __byte_perm(low, high, pick);
}

// IQ4_NL / IQ4_XS levels (kIq4Values of src/formats/iq4.cpp) packed four per word.
__device__ __forceinline__ void iq4_table(uint32_t& t0, uint32_t& t1, uint32_t& t2, uint32_t& t3) {
  // -127, -104, -83, -65 | -49, -35, -22, -10 | 1, 13, 25, 38 | 53, 69, 89, 113
  t0 = 0xBFAD9881u;
  t1 = 0xF6EADDCFu;
  t2 = 0x26190D01u;
  t3 = 0x71594535u;
}

template <FormatId F>
struct Fmt;

template <>
struct Fmt<FormatId::Q4_0> {
  static constexpr int kBytes = 18, kValues = 32;
  static constexpr bool kHasMin = false;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + b * kBytes;
    o.d0 = o.d1 = f16_at(p);
    o.m0 = o.m1 = 0.0f;
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint32_t v = ld32_a2(p + 2 + 4 * w);
      o.q[w] = __vsub4(v & 0x0F0F0F0Fu, 0x08080808u);
      o.q[4 + w] = __vsub4((v >> 4) & 0x0F0F0F0Fu, 0x08080808u);
    }
  }
};

template <>
struct Fmt<FormatId::Q4_1> {
  static constexpr int kBytes = 20, kValues = 32;
  static constexpr bool kHasMin = true;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + b * kBytes;
    o.d0 = o.d1 = f16_at(p);
    o.m0 = o.m1 = f16_at(p + 2);
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint32_t v = ld32_a4(p + 4 + 4 * w);
      o.q[w] = v & 0x0F0F0F0Fu;
      o.q[4 + w] = (v >> 4) & 0x0F0F0F0Fu;
    }
  }
};

template <>
struct Fmt<FormatId::Q5_0> {
  static constexpr int kBytes = 22, kValues = 32;
  static constexpr bool kHasMin = false;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + b * kBytes;
    o.d0 = o.d1 = f16_at(p);
    o.m0 = o.m1 = 0.0f;
    const uint32_t qh = ld32_a2(p + 2);
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint32_t v = ld32_a2(p + 6 + 4 * w);
      o.q[w] = __vsub4((v & 0x0F0F0F0Fu) | (spread4(qh >> (4 * w)) << 4), 0x10101010u);
      o.q[4 + w] = __vsub4(((v >> 4) & 0x0F0F0F0Fu) | (spread4(qh >> (16 + 4 * w)) << 4), 0x10101010u);
    }
  }
};

template <>
struct Fmt<FormatId::Q5_1> {
  static constexpr int kBytes = 24, kValues = 32;
  static constexpr bool kHasMin = true;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + b * kBytes;
    o.d0 = o.d1 = f16_at(p);
    o.m0 = o.m1 = f16_at(p + 2);
    const uint32_t qh = ld32_a4(p + 4);
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint32_t v = ld32_a4(p + 8 + 4 * w);
      o.q[w] = (v & 0x0F0F0F0Fu) | (spread4(qh >> (4 * w)) << 4);
      o.q[4 + w] = ((v >> 4) & 0x0F0F0F0Fu) | (spread4(qh >> (16 + 4 * w)) << 4);
    }
  }
};

template <>
struct Fmt<FormatId::Q8_0> {
  static constexpr int kBytes = 34, kValues = 32;
  static constexpr bool kHasMin = false;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + b * kBytes;
    o.d0 = o.d1 = f16_at(p);
    o.m0 = o.m1 = 0.0f;
#pragma unroll
    for (int w = 0; w < 8; ++w) o.q[w] = ld32_a2(p + 2 + 4 * w);
  }
};

template <>
struct Fmt<FormatId::IQ4_NL> {
  static constexpr int kBytes = 18, kValues = 32;
  static constexpr bool kHasMin = false;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + b * kBytes;
    o.d0 = o.d1 = f16_at(p);
    o.m0 = o.m1 = 0.0f;
    uint32_t t0, t1, t2, t3;
    iq4_table(t0, t1, t2, t3);
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint32_t v = ld32_a2(p + 2 + 4 * w);
      o.q[w] = table16(v & 0x0F0F0F0Fu, t0, t1, t2, t3);
      o.q[4 + w] = table16((v >> 4) & 0x0F0F0F0Fu, t0, t1, t2, t3);
    }
  }
};

// Q4_K / Q5_K: the 6-bit scale and minimum of sub-block j (llama.cpp's get_scale_min_k4).
__device__ __forceinline__ void k4_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Scale and minimum of 32-value sub-block j of a Q4_K/Q5_K block at p (d, dmin, packed scales).
__device__ __forceinline__ void k4_scales(const uint8_t* p, int j, Block32& o) {
  int sc, m;
  k4_scale_min(p + 4, j, sc, m);
  o.d0 = o.d1 = f16_at(p) * float(sc);
  o.m0 = o.m1 = -(f16_at(p + 2) * float(m));
}

template <>
struct Fmt<FormatId::Q4_K> {
  static constexpr int kBytes = 144, kValues = 256;
  static constexpr bool kHasMin = true;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int j = int(b & 7);
    k4_scales(p, j, o);
    const uint8_t* qs = p + 16 + 32 * (j >> 1);
    const int shift = 4 * (j & 1);
#pragma unroll
    for (int w = 0; w < 8; ++w) o.q[w] = (ld32_a4(qs + 4 * w) >> shift) & 0x0F0F0F0Fu;
  }
};

template <>
struct Fmt<FormatId::Q5_K> {
  static constexpr int kBytes = 176, kValues = 256;
  static constexpr bool kHasMin = true;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int j = int(b & 7);
    k4_scales(p, j, o);
    const uint8_t* qh = p + 16;
    const uint8_t* qs = p + 48 + 32 * (j >> 1);
    const int shift = 4 * (j & 1);
#pragma unroll
    for (int w = 0; w < 8; ++w)
      o.q[w] = ((ld32_a4(qs + 4 * w) >> shift) & 0x0F0F0F0Fu) | (((ld32_a4(qh + 4 * w) >> j) & 0x01010101u) << 4);
  }
};

template <>
struct Fmt<FormatId::Q6_K> {
  static constexpr int kBytes = 210, kValues = 256;
  static constexpr bool kHasMin = false;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int j = int(b & 7), n = j >> 2, g = j & 3;
    const float d = f16_at(p + 208);
    const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192) + 8 * n + 2 * g;
    o.d0 = d * float(sc[0]);
    o.d1 = d * float(sc[1]);
    o.m0 = o.m1 = 0.0f;
    const uint8_t* ql = p + 64 * n + 32 * (g & 1);
    const uint8_t* qh = p + 128 + 32 * n;
    const int lshift = 4 * (g >> 1), hshift = 2 * g;
#pragma unroll
    for (int w = 0; w < 8; ++w) {
      const uint32_t lo = (ld32_a2(ql + 4 * w) >> lshift) & 0x0F0F0F0Fu;
      const uint32_t hi = ((ld32_a2(qh + 4 * w) >> hshift) & 0x03030303u) << 4;
      o.q[w] = __vsub4(lo | hi, 0x20202020u);
    }
  }
};

template <>
struct Fmt<FormatId::Q2_K> {
  static constexpr int kBytes = 84, kValues = 256;
  static constexpr bool kHasMin = true;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int j = int(b & 7), n = j >> 2, s = j & 3;
    const float d = f16_at(p + 80), dmin = f16_at(p + 82);
    const uint8_t sc0 = p[8 * n + 2 * s], sc1 = p[8 * n + 2 * s + 1];
    o.d0 = d * float(sc0 & 0xF);
    o.m0 = -(dmin * float(sc0 >> 4));
    o.d1 = d * float(sc1 & 0xF);
    o.m1 = -(dmin * float(sc1 >> 4));
    const uint8_t* qs = p + 16 + 32 * n;
#pragma unroll
    for (int w = 0; w < 8; ++w) o.q[w] = (ld32_a4(qs + 4 * w) >> (2 * s)) & 0x03030303u;
  }
};

// Q3_K: the 6-bit scale of 16-value group j (src/formats/q3_k.cpp q3_scale), not yet offset.
__device__ __forceinline__ int q3_scale(const uint8_t* s, int j) {
  const int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  return low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

template <>
struct Fmt<FormatId::Q3_K> {
  static constexpr int kBytes = 110, kValues = 256;
  static constexpr bool kHasMin = false;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int j = int(b & 7), half = j >> 2, s = j & 3;
    const float d = f16_at(p + 108);
    o.d0 = d * float(q3_scale(p + 96, 8 * half + 2 * s) - 32);
    o.d1 = d * float(q3_scale(p + 96, 8 * half + 2 * s + 1) - 32);
    o.m0 = o.m1 = 0.0f;
    const uint8_t* qs = p + 32 + 32 * half;
    const int hbit = 4 * half + s;
#pragma unroll
    for (int w = 0; w < 8; ++w) {
      const uint32_t lo = (ld32_a2(qs + 4 * w) >> (2 * s)) & 0x03030303u;
      const uint32_t hm = (ld32_a2(p + 4 * w) >> hbit) & 0x01010101u;
      o.q[w] = __vsub4(lo, (hm ^ 0x01010101u) << 2);
    }
  }
};

template <>
struct Fmt<FormatId::IQ4_XS> {
  static constexpr int kBytes = 136, kValues = 256;
  static constexpr bool kHasMin = false;
  __device__ static void decode(const uint8_t* row, int64_t b, Block32& o) {
    const uint8_t* p = row + (b >> 3) * kBytes;
    const int j = int(b & 7);
    const uint32_t sh = *reinterpret_cast<const uint16_t*>(p + 2);
    const int ls = ((p[4 + j / 2] >> (4 * (j % 2))) & 0xF) | (((sh >> (2 * j)) & 3) << 4);
    o.d0 = o.d1 = f16_at(p) * float(ls - 32);
    o.m0 = o.m1 = 0.0f;
    uint32_t t0, t1, t2, t3;
    iq4_table(t0, t1, t2, t3);
    const uint8_t* qs = p + 8 + 16 * j;
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint32_t v = ld32_a4(qs + 4 * w);
      o.q[w] = table16(v & 0x0F0F0F0Fu, t0, t1, t2, t3);
      o.q[4 + w] = table16((v >> 4) & 0x0F0F0F0Fu, t0, t1, t2, t3);
    }
  }
};

// Signed byte i of a packed word.
__device__ __forceinline__ int byte_at(uint32_t w, int i) { return int(int8_t((w >> (8 * i)) & 0xFF)); }

// Value v (0..31) of a decoded block as the CPU decoders compute it: d * q, then + m.
__device__ __forceinline__ float block_value(const Block32& o, int v) {
  const int q = byte_at(o.q[v >> 2], v & 3);
  const float d = v < 16 ? o.d0 : o.d1;
  const float m = v < 16 ? o.m0 : o.m1;
  const float x = __fmul_rn(d, float(q));
  return m == 0.0f ? x : __fadd_rn(x, m);
}

// Calls fn.template operator()<F>() for a format with a block decoder; returns false otherwise.
template <class Fn>
bool dispatch_quant(FormatId f, Fn&& fn) {
  switch (f) {
    case FormatId::Q4_0: fn.template operator()<FormatId::Q4_0>(); return true;
    case FormatId::Q4_1: fn.template operator()<FormatId::Q4_1>(); return true;
    case FormatId::Q5_0: fn.template operator()<FormatId::Q5_0>(); return true;
    case FormatId::Q5_1: fn.template operator()<FormatId::Q5_1>(); return true;
    case FormatId::Q8_0: fn.template operator()<FormatId::Q8_0>(); return true;
    case FormatId::IQ4_NL: fn.template operator()<FormatId::IQ4_NL>(); return true;
    case FormatId::Q2_K: fn.template operator()<FormatId::Q2_K>(); return true;
    case FormatId::Q3_K: fn.template operator()<FormatId::Q3_K>(); return true;
    case FormatId::Q4_K: fn.template operator()<FormatId::Q4_K>(); return true;
    case FormatId::Q5_K: fn.template operator()<FormatId::Q5_K>(); return true;
    case FormatId::Q6_K: fn.template operator()<FormatId::Q6_K>(); return true;
    case FormatId::IQ4_XS: fn.template operator()<FormatId::IQ4_XS>(); return true;
    default: return false;
  }
}

}  // namespace quantlab::cuda
