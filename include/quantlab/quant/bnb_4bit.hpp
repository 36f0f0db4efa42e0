#pragma once
// bitsandbytes 4-bit weights (NF4 and FP4, as in QLoRA / transformers' load_in_4bit): each block of
// `block_size` consecutive values of the flattened tensor is scaled by its absmax and every value is
// mapped to one of 16 codes; two codes share a byte, the first value in the high nibble. The
// per-block absmax constants are f32, or with double quantization ("compress_statistics") their
// offset from their mean is quantized again to 8 bits in blocks of 256 with the signed dynamic map.
//
// Numerics follow bitsandbytes' CUDA kernels (kQuantizeBlockwise / kDequantizeBlockwise, built with
// fast math): the scale is the GPU's approximate reciprocal of absmax, the value->code decision
// trees use bitsandbytes' own thresholds (a value equal to a threshold takes the lower code), and
// denormals are flushed. See bnb_gpu_math.hpp for which inputs that makes bit-exact.
#include "quantlab/quant/bnb_blockwise8.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::bnb {

enum class QuantType { NF4, FP4 };
std::string_view quant_type_name(QuantType t);  // "nf4", "fp4"
QuantType parse_quant_type(std::string_view name, const std::string& source = "");

// The dtype of the tensor bitsandbytes quantized; values are rounded to it before quantization and
// the dequantized output is rounded to it, as bitsandbytes does. Named as torch names them.
enum class SourceDtype { F32, F16, BF16 };
std::string_view dtype_name(SourceDtype d);  // "float32", "float16", "bfloat16"
SourceDtype parse_dtype(std::string_view name, const std::string& source = "");
float round_to_dtype(float x, SourceDtype d);

// Value -> code exactly as bitsandbytes' dQuantizeNF4 / dQuantizeFP4 (x already divided by absmax).
uint8_t nf4_code(float x);
uint8_t fp4_code(float x);
// Code -> value in [-1, 1] as the CUDA dequantization tables hold it (FP4 code 8 is -0).
float nf4_value(uint8_t code);
float fp4_value(uint8_t code);
// The 16-entry `quant_map` tensor bitsandbytes stores in files (get_4bit_type: NF4 as float32 of the
// Python doubles, FP4 in bit-pattern order divided by 12).
std::array<float, 16> quant_map(QuantType t);

struct Spec4bit {
  QuantType type = QuantType::NF4;
  int64_t block_size = 64;      // 32, 64, 128, ..., 4096 (bitsandbytes' valid sizes)
  bool double_quant = false;    // compress_statistics
};

struct Quantized4bit {
  Spec4bit spec;
  SourceDtype dtype = SourceDtype::F16;
  std::vector<int64_t> shape;    // of the original weight
  int64_t numel = 0;
  std::vector<uint8_t> packed;   // (numel + 1) / 2 bytes, first value in the high nibble
  // Without double quantization: absmax per block. With it: empty.
  std::vector<float> absmax;
  // With double quantization: absmax[i] ~ nested.codes[i] -> dynamic map * nested.absmax + offset.
  Blockwise8 nested;
  float nested_offset = 0;

  int64_t blocks() const { return (numel + spec.block_size - 1) / spec.block_size; }
  // The per-block scales dequantization uses (absmax, or the double-quantized ones decoded).
  std::vector<float> block_absmax() const;
  // Code of value i.
  uint8_t code(int64_t i) const { return uint8_t(i % 2 == 0 ? packed[size_t(i / 2)] >> 4 : packed[size_t(i / 2)] & 0x0f); }
};

// The mean bitsandbytes subtracts before double quantization: absmax.mean() as torch 2.11
// computes it on a CUDA GPU, float additions in the same order (bit-exact on the fixtures; the
// split across thread blocks for more than ~4M blocks assumes an H100's 132 SMs).
float absmax_mean(const std::vector<float>& absmax);

// Quantizes a weight given as float values (rounded to `dtype` first). Throws quantlab::Error on a
// bad block size, an empty tensor or a non-finite value (bitsandbytes would write garbage).
Quantized4bit quantize_4bit(const float* w, std::vector<int64_t> shape, const Spec4bit& spec,
                            SourceDtype dtype, const std::string& source = "");

// The same, with the double-quantization offset given instead of computed (to reproduce a file
// whose offset came from another reduction order, e.g. another GPU or torch version).
Quantized4bit quantize_4bit_with_offset(const float* w, std::vector<int64_t> shape, const Spec4bit& spec,
                                        SourceDtype dtype, float nested_offset, const std::string& source = "");

// Dequantized values (numel), each exactly representable in q.dtype, as bitsandbytes'
// dequantize_4bit returns them in that dtype.
std::vector<float> dequantize_4bit(const Quantized4bit& q);

}  // namespace quantlab::bnb
