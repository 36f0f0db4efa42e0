#pragma once
// The floating-point behaviour of bitsandbytes' CUDA kernels, emulated on the CPU so that quantlab
// produces the same bytes as bitsandbytes. Those kernels are built with --use_fast_math, which
// changes three things that decide quantization codes:
//   - denormals are flushed to (sign-preserving) zero on input and output of every operation (ftz);
//   - `1.0f / x` becomes rcp.approx.ftz.f32, which is not correctly rounded: it differs from the
//     correctly rounded reciprocal by one ulp for about 13 % of all mantissas;
//   - `__fdividef(a, b)` (div.approx.ftz.f32) is a * rcp.approx(b), rounded once more.
// The reciprocal's deviation was measured on an H100 (tools/make-bnb-fixtures.py, "rcp
// characterisation"): it depends on the mantissa only, identically for every exponent of the
// normal range. quantlab carries the deviation for the 1024 mantissas an f16 value can have (which
// include the 128 of bf16), so absmax values that come from f16/bf16 tensors, the usual case, give
// exactly the GPU's reciprocal; other f32 mantissas use the correctly rounded one (exact for 87 %).
// For f32 weights a one-ulp different scale changes a 4-bit code only when the scaled value sits
// within an ulp of a decision threshold: about 4e-7 of N(0,1) values if every scale were off, so
// about 5e-8 of an f32 tensor's codes may differ from bitsandbytes by one step.
#include <cstdint>

namespace quantlab::bnb {

// Flushes a denormal to a zero of the same sign, as the fast-math kernels do.
float flush_denormal(float x);

// rcp.approx.ftz.f32 as described above; 0 (or a denormal) gives +-inf.
float gpu_reciprocal(float x);

// True when gpu_reciprocal(x) is known to be bit-exact with the GPU for this x (mantissa on the
// f16 grid, or a power of two, or zero/inf).
bool gpu_reciprocal_is_exact(float x);

// __fdividef(a, b) with ftz: a * rcp.approx(b).
inline float gpu_fast_divide(float a, float b) { return flush_denormal(a * gpu_reciprocal(b)); }

// __float2int_rn / cvt.rni.s32.f32: round half to even; NaN gives 0; saturates at the int range.
int32_t gpu_float_to_int_rn(float x);

}  // namespace quantlab::bnb
