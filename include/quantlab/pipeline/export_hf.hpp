#pragma once
// Hugging Face folders of a quantized model: config.json (LlamaForCausalLM / Qwen2ForCausalLM from
// the model's configuration, with quantization_config and quantlab's provenance), model.safetensors.
//   rtn, gptq  -> GPTQ v1 tensors (qweight/qzeros/scales/g_idx; quant_method gptq, checkpoint_format gptq)
//   awq        -> AWQ GEMM tensors (quant_method awq, version gemm)
//   nf4/fp4/int8 -> bitsandbytes tensors (bnb_serialize) and its quantization_config
// or, with format CompressedTensors, rtn/gptq/awq grids of 4 or 8 bits as compressed-tensors'
// pack-quantized layout (what llm-compressor writes and vLLM serves; formats/export_layouts.hpp
// lists the tensors), quant_method compressed-tensors.
// Every folder is one its target loader reads: group sizes that do not divide a linear's inputs
// (a partial last group, which AutoAWQ's WQLinear_GEMM, vLLM and compressed-tensors size as
// in_features // group_size) are refused up front, naming the tensor and the sizes that work.
// Tensors that are not quantized (embedding, norms, output projection, biases) are stored as F32,
// exactly the values the in-memory model computes with. Rotary layout: llama-arch GGUF and llama2.c
// weights hold Q/K rows in the interleaved order; the export undoes that permutation (rows of the
// quantized codes and their group parameters move together, which is exact), and the loader redoes it.
// The folder is written beside its destination and renamed into place (no partial output).
#include "quantlab/calib/provenance.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/pipeline/quantize_model.hpp"

#include "quantlab/io/safetensors.hpp"

#include <nlohmann/json.hpp>
#include <filesystem>
#include <memory>
#include <string>

namespace quantlab::pipeline {

enum class HfExportFormat {
  Native,            // GPTQ v1 (rtn, gptq), AWQ GEMM (awq), bitsandbytes (nf4, fp4, int8)
  CompressedTensors  // compressed-tensors pack-quantized (rtn, gptq, awq; 4 or 8 bits)
};
HfExportFormat parse_export_format(const std::string& name);  // "native" | "compressed-tensors"; Error names --export-format
const char* export_format_name(HfExportFormat f);

struct ExportInfo {
  std::string source_path;
  std::string source_sha256;
  calib::Provenance calibration;  // empty dataset name for calibration-free methods
  QuantizeOptions options;
  HfExportFormat format = HfExportFormat::Native;
};

// Group sizes every target loader reads for this model: the powers of two from 32 up that divide
// the input width of every linear, largest first (empty when none does; per channel always works).
std::vector<int64_t> exportable_group_sizes(const ModelConfig& c);
// The largest of them not above `preferred`, else 0 (per channel): `--group-size auto`.
int64_t auto_group_size(const ModelConfig& c, int64_t preferred = 128);
// Throws Error("--group-size", tensor, ...) when the options' group size does not divide a linear's
// inputs (naming that linear and the sizes that work), and Error("--export-format", ...) for a
// method/format pair no loader reads. Called by export_config and HfExportWriter before anything
// is quantized; callers that quantize in memory first call it themselves.
void check_exportable(const ModelConfig& c, const ExportInfo& info);

// The config.json object (model configuration + quantization_config).
nlohmann::ordered_json export_config(const QuantizeResult& q, const ExportInfo& info);

void export_quantized(const QuantizeResult& q, const ExportInfo& info, const std::string& dir);

// The same folder written while quantize_model runs (its LayerSink): model.safetensors' header is
// planned up front from the source model's shapes and the method (each linear's exported tensors
// are those of a stand-in of its shape), the embedding and final norm are copied from the source
// in chunks, each layer's tensors are written at their planned offsets as the layer finishes, and
// nothing of a layer is kept. finish() writes config.json and moves the folder into place; without
// it (an error) nothing appears at `dir`. The bytes equal export_quantized's.
class HfExportWriter : public LayerSink {
 public:
  HfExportWriter(const Model& source, const ExportInfo& info, const std::string& dir);
  ~HfExportWriter() override;
  // false where a tensor's size depends on the weights (NF4/FP4 with double quantization).
  static bool streamable(const QuantizeOptions& o);
  void layer_done(int layer, const LayerWeights& weights, std::vector<QuantizedTensor>& tensors) override;
  void write_layer(int layer, const LayerWeights& weights, const std::vector<QuantizedTensor>& tensors);
  void finish(const QuantizeResult& q);

 private:
  void write_matrix(const std::string& name, const WeightMatrix& m);
  const Model& source_;
  ExportInfo info_;
  std::filesystem::path dest_, tmp_;
  std::unique_ptr<SafetensorsStream> stream_;
  bool finished_ = false;
};

// Reloads a folder written by export_quantized as an evaluable model (dequantized f32 linears),
// giving the same logits as the in-memory result: load_hf_model, which reads every quantized
// layout of the format registry (formats/export_layouts.hpp). Throws Error naming the file and field.
Model load_quantized_export(const std::string& dir);

}  // namespace quantlab::pipeline
