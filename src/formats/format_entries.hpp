#pragma once
// Registry entries, one object per format, defined next to that format's quantize/dequantize code.
// registry.cpp lists them; nothing else includes this header.
#include "quantlab/formats/block_grid.hpp"
#include "quantlab/formats/format.hpp"

namespace quantlab::formats {
extern const FormatTraits kF32, kF16, kBF16, kI8, kI16, kI32, kI64, kF64;
// GGUF block formats (q4_0.cpp, q4_1.cpp, q5.cpp, q8.cpp, q2_k.cpp ... q8_k.cpp, iq*.cpp, tq.cpp).
extern const FormatTraits kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0, kQ8_1;
extern const FormatTraits kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K, kQ8_K;
extern const FormatTraits kIQ4_NL, kIQ4_XS, kIQ2_XXS, kIQ2_XS, kIQ2_S, kIQ3_XXS, kIQ3_S, kIQ1_S, kIQ1_M;
extern const FormatTraits kTQ1_0, kTQ2_0, kMXFP4;
// Level grids of the formats whose values are scale * level - offset (block_grid.cpp lists them).
extern const BlockGrid kGridQ4_0, kGridQ4_1, kGridQ5_0, kGridQ5_1, kGridQ8_0, kGridQ4_K, kGridQ5_K, kGridQ6_K;
}  // namespace quantlab::formats
