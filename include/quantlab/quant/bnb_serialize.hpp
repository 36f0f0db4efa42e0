#pragma once
// bitsandbytes checkpoints as transformers writes them (save_pretrained of a model loaded with
// load_in_4bit / load_in_8bit), as named raw tensors that a safetensors writer stores as they are.
//
// 4-bit, for a linear layer with state-dict prefix P (e.g. "model.layers.0.mlp.down_proj."):
//   P weight                                U8  [(numel+1)/2, 1]  packed codes, high nibble first
//   P weight.absmax                         F32 [blocks]          (U8 [blocks] with double quant)
//   P weight.quant_map                      F32 [16]
//   P weight.nested_absmax                  F32 [ceil(blocks/256)]   double quant only
//   P weight.nested_quant_map               F32 [256]                double quant only
//   P weight.quant_state.bitsandbytes__nf4  U8  [len]  (or __fp4) the JSON text of
//     {"quant_type", "blocksize", "dtype", "shape", ["nested_blocksize", "nested_dtype",
//      "nested_offset"]} exactly as bitsandbytes' QuantState.as_dict(packed=True) + json.dumps make it
// 8-bit:
//   P weight         I8 [out, in]   CB
//   P SCB            F32 [out]
//   P weight_format  U8 []          0 ("row")
// Bias tensors, unquantized layers and config.json's "quantization_config" (see below) are the
// exporter's part.
#include "quantlab/quant/bnb_4bit.hpp"
#include "quantlab/quant/bnb_int8.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace quantlab::bnb {

struct NamedTensor {
  std::string name;
  std::string dtype;            // safetensors dtype: "U8", "I8", "F32", "F16", "BF16"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;   // little-endian, row-major
};

// Looks a tensor up by full name; null when absent.
using TensorLookup = std::function<const NamedTensor*(const std::string& name)>;

// The JSON text bitsandbytes packs into the quant_state tensor (Python's json.dumps spacing and
// float formatting).
std::string quant_state_json(const Quantized4bit& q);

std::vector<NamedTensor> export_4bit(const std::string& prefix, const Quantized4bit& q);
// Reads a layer back; `source` names the file for errors. Checks dtypes, shapes and the JSON.
Quantized4bit import_4bit(const std::string& prefix, const TensorLookup& lookup, const std::string& source);

std::vector<NamedTensor> export_int8(const std::string& prefix, const Int8Rows& w);
Int8Rows import_int8(const std::string& prefix, const TensorLookup& lookup, const std::string& source);

// config.json "quantization_config" as transformers' BitsAndBytesConfig.to_dict() writes it.
// compute_dtype: the bnb_4bit_compute_dtype string ("float16", "bfloat16", "float32").
nlohmann::json quantization_config_4bit(const Spec4bit& spec, const std::string& compute_dtype);
nlohmann::json quantization_config_int8(float threshold = kDefaultInt8Threshold);

// repr() of a Python float (shortest round-trip digits; exponent form below 1e-4 and from 1e16).
std::string python_float_repr(double v);

}  // namespace quantlab::bnb
