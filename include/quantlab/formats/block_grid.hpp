#pragma once
// The integer grid of a GGUF block format, for algorithms that choose the levels themselves (GPTQ
// onto GGUF types). Every format listed here decodes value i of a block as
//
//     scale[i] * float(level[i]) - offset[i]
//
// (the same float operations as its decoder, so grid_value() equals to_float() bit for bit) with an
// integer level in [level_min, level_max]; scale and offset are shared by a sub-block and come
// from the block's stored parameters (f16 d/dmin, 4/6/8-bit sub-block scales and mins).
//
// The three steps an algorithm takes:
//   1. fit:   the format's own encoder (FormatTraits::from_float on one block, with importance
//             weights or not) chooses the parameters, exactly as llama-quantize would;
//   2. read:  read() exposes the block's per-value scale, offset and the level the encoder chose;
//   3. write: write_levels() replaces the levels and keeps the parameters: the block's bytes for
//             levels chosen by the algorithm ("encode with given parameters and codes").
// A block passed through read() and write_levels() unchanged keeps its bytes.
#include "quantlab/formats/format.hpp"

#include <cstdint>

namespace quantlab {

struct BlockGrid {
  FormatId id;
  int64_t block_size;  // values whose parameters are fitted together (a super-block for the k-quants)
  int level_min, level_max;
  void (*read)(const void* block, float* scale, float* offset, int16_t* level);
  void (*write_levels)(void* block, const int16_t* level);
};

// Null for formats without such a grid (f32/f16, i-quants, ternary, Q8_K, MXFP4).
const BlockGrid* find_block_grid(FormatId id);

// The level the format's own requantization step gives x: nearest_int((x + offset) / scale),
// clamped to the grid's range; with scale == 0 every level decodes to -offset and `kept` is
// returned (llama.cpp keeps the search's levels there, so a round trip keeps the bytes).
int grid_level(const BlockGrid& g, float x, float scale, float offset, int kept);
// scale * level - offset, rounded exactly as the format's decoder rounds it.
float grid_value(float scale, float offset, int level);

}  // namespace quantlab
