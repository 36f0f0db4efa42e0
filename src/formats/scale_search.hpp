#pragma once
// Scale (and min) searches shared by the GGUF quantizers. Each reproduces one of llama.cpp's
// searches operation for operation (named in the comment), because GGUF files written by quantlab
// must be byte-identical to llama-quantize's for the same input and importance matrix.
#include <cstdint>

namespace quantlab::formats {

// Symmetric levels in [-nmax, nmax-1] stored offset by nmax into L; returns the scale.
// weighting: 0 = plain round-to-nearest from the largest magnitude; 1 = weights x^2; 2 = 1;
// 3 = |x|; otherwise sqrt|x|; `weights` (if not null) replaces them. A negative weighting stops
// after the first least-squares fit and returns the mean of it and the start (llama.cpp:
// make_qx_quants).
float symmetric_scale_search(int n, int nmax, const float* x, int8_t* L, int weighting, const float* weights);

// 3-bit variant with coordinate-descent refinement of single levels weighted by x^2 (llama.cpp:
// make_q3_quants). L is offset by nmax.
float q3_scale_search(int n, int nmax, const float* x, int8_t* L, bool refine);

// Affine levels in [0, nmax] with a non-positive offset: x ~ scale*L - the_min. Tries
// nstep+1 candidate inverse scales (rmin + rdelta*i + nmax)/(max-min) and keeps the best weighted
// error (|err| if use_mad, else err^2). Null `weights` means x^2. (llama.cpp: make_qkx2_quants and
// make_qkx3_quants, which only differ in that default.) `scratch` holds n levels.
float affine_scale_search(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                          uint8_t* scratch, float rmin, float rdelta, int nstep, bool use_mad);

// Non-negative values quantized to [0, nmax] with a single scale, weighted error, used for the
// 6-bit/4-bit sub-block scales of the importance-weighted k-quants (llama.cpp: make_qp_quants).
float positive_scale_search(int n, int nmax, const float* x, uint8_t* L, const float* weights);

// The 6-bit scales and mins of 8 sub-blocks packed into 12 bytes (Q4_K/Q5_K layout).
void pack_scale_min_k4(int j, uint8_t scale, uint8_t min, uint8_t* packed);
void unpack_scale_min_k4(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min);

}  // namespace quantlab::formats
