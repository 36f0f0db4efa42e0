#pragma once
// The quantized-linear layouts of Hugging Face folders, beside the GGUF formats of format.hpp: the
// tensors one linear is stored as, and their decoding to f32. One entry per layout; a loader finds
// the entry that claims a folder's config.json "quantization_config" and lets it decode each
// linear, never switching on quant_method itself.
//
//   gptq            AutoGPTQ/GPTQModel v1 checkpoints (quant_method gptq, checkpoint_format gptq):
//                   qweight I32 [in*bits/32, out], qzeros I32 [groups, out*bits/32] holding zero-1,
//                   scales F16 [groups, out], g_idx I32 [in]
//   awq             AutoAWQ GEMM (quant_method awq, version gemm): qweight I32 [in, out/8] and
//                   qzeros I32 [groups, out/8], nibbles in the order 0,2,4,6,1,3,5,7; scales F16
//   bitsandbytes-4bit   NF4/FP4 as transformers saves them (quant/bnb_serialize.hpp lists the tensors)
//   bitsandbytes-8bit   LLM.int8: weight I8 [out, in], SCB F32 [out]
//   pack-quantized  compressed-tensors (llm-compressor, vLLM): weight_packed I32 [out, ceil(in/(32/bits))]
//                   (code + 2^(bits-1) of each value, LSB first along the input), weight_scale
//                   [out, groups] (F32/F16/BF16), weight_zero_point I32 [ceil(out/(32/bits)), groups]
//                   packed along the output when asymmetric, weight_g_idx I32 [in] with group
//                   act-order, weight_shape I64/I32 [2]
//
// Every decoder gives exactly the f32 values quantlab's quantizers compute with for the same codes
// (scale * (code - zero) in f32; bitsandbytes' products with denormals flushed), so a reloaded
// export computes the logits of the in-memory quantized model.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab {

// One stored tensor of a linear, as the file holds it (little-endian, row-major).
struct StoredTensor {
  std::string dtype;  // safetensors dtype name: "I32", "F16", "U8", ...
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};
// Looks a tensor up by its full name; nullopt when the file has none of that name.
using StoredTensorLookup = std::function<std::optional<StoredTensor>(const std::string& name)>;

// What a layout reads from quantization_config (validated by the entry that claims it).
struct ExportLayoutParams {
  int bits = 4;
  int64_t group_size = 0;  // <= 0: one group per row
  bool symmetric = false;
  bool act_order_groups = false;  // g_idx tensors decide each column's group
};

struct ExportLayoutTraits {
  std::string_view name;          // "gptq", "awq", "bitsandbytes-4bit", "bitsandbytes-8bit", "pack-quantized"
  std::string_view quant_method;  // config.json quantization_config.quant_method
  // True when this entry stores `qc` (quant_method and its variant match).
  bool (*claims)(const nlohmann::json& qc);
  // The parameters; throws Error(config_path, field, ...) on a value this layout cannot hold.
  ExportLayoutParams (*read_config)(const nlohmann::json& qc, const std::string& config_path);
  // Whether a tensor of this name (the module path without ".weight" + its suffix) belongs to a
  // quantized linear: the loader asks before falling back to a plain ".weight".
  std::string_view probe_suffix;
  // The [rows, cols] f32 values of the linear at `module` ("model.layers.0.self_attn.q_proj").
  // Throws Error(file, tensor, ...) on a missing tensor, a wrong dtype or shape, or an invalid code.
  std::vector<float> (*decode)(const StoredTensorLookup& tensors, const std::string& file, const std::string& module,
                               int64_t rows, int64_t cols, const ExportLayoutParams& p);
};

const std::vector<const ExportLayoutTraits*>& all_export_layouts();
// The entry that claims this quantization_config; throws Error(config_path, "quantization_config.
// quant_method", ...) naming the layouts that are read when none does.
const ExportLayoutTraits& export_layout_for(const nlohmann::json& qc, const std::string& config_path);

}  // namespace quantlab
