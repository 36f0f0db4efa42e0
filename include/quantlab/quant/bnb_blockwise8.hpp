#pragma once
// bitsandbytes' blockwise 8-bit quantization with a code table (quantize_blockwise /
// dequantize_blockwise). quantlab uses it for what bitsandbytes uses it for in 4-bit models: the
// "double quantization" (compress_statistics) of the per-block absmax constants, with the signed
// dynamic map and blocks of 256.
#include <array>
#include <cstdint>
#include <vector>

namespace quantlab::bnb {

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 ascending values in
// [-1, 1], built with torch's float32 arithmetic (linspace with fused multiply-add, f32 means,
// f32 products) so that the table is bit-identical to the one bitsandbytes stores in files.
const std::array<float, 256>& dynamic_map_signed();

// The code of x (already scaled into [-1, 1]) as kQuantizeBlockwise's deterministic binary
// search picks it: seven halvings from the middle, then the nearer neighbour by midpoint.
uint8_t dynamic_code(const std::array<float, 256>& code, float x);

struct Blockwise8 {
  int64_t block_size = 256;
  std::vector<uint8_t> codes;  // one per value
  std::vector<float> absmax;   // one per block (the last may be partial)
};

// Quantizes n values in blocks: absmax = max |x| (with denormals flushed), code = dynamic_code(
// code table, x * gpu_reciprocal(absmax)). NaN/Inf inputs are the caller's responsibility.
Blockwise8 quantize_blockwise8(const float* x, int64_t n, int64_t block_size, const std::array<float, 256>& code);

// out[i] = code[codes[i]] * absmax[block] (one f32 multiply, denormals flushed).
std::vector<float> dequantize_blockwise8(const Blockwise8& q, const std::array<float, 256>& code);

}  // namespace quantlab::bnb
