#pragma once
// GGUF-to-GGUF quantization as llama-quantize does it: a target is either one of llama.cpp's
// named mixes (Q4_K_M, Q2_K, IQ4_XS, ..., whose per-tensor choices give more bits to attn_v,
// ffn_down, output.weight by layer position) or a registry type applied to every quantizable
// tensor ("pure"), or F32/F16/BF16 (dequantization). Tensor order, metadata order, per-tensor
// types and bytes follow llama.cpp, so without an imatrix (and with the same imatrix) the output
// is meant to be byte-identical to llama-quantize's apart from quantlab's provenance keys.
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/formats/format.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/quant/imatrix.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quantlab {

// One quantization target: a llama.cpp file type ("ftype") and its default tensor type.
struct GgufTarget {
  std::string name;          // as given, upper case: "Q4_K_M", "Q4_K", "F32"
  uint32_t file_type = 0;    // general.file_type (llama_ftype)
  FormatId default_type = FormatId::F32;
  bool is_mix = false;       // a llama.cpp ftype name (per-tensor choices apply)
};

// Names llama-quantize accepts plus every registry GGUF type that can be encoded. Throws Error
// naming `--type` for an unknown name.
GgufTarget parse_gguf_target(const std::string& name);
// Every accepted target name, for help texts and tests.
std::vector<std::string> gguf_target_names();

struct GgufQuantizeOptions {
  GgufTarget target;
  bool pure = false;                                    // no per-tensor mix choices (llama-quantize --pure)
  std::vector<std::pair<std::string, FormatId>> tensor_type_overrides;  // regex (searched) -> type, first match wins
  // Exact tensor name -> type (bit allocation's plan), ahead of the patterns and the mix rules; the
  // row-length fallback still applies (the allocation only gives types that fit).
  std::map<std::string, FormatId> tensor_types;
  std::optional<FormatId> output_tensor_type;
  std::optional<FormatId> token_embedding_type;
  const Imatrix* imatrix = nullptr;                     // importance per weight, or null
  std::string imatrix_path;                             // for metadata
  int threads = 0;                                      // <= 0: all cores
  std::string params_json;                              // recorded as quantlab.params
  std::string method = "gguf";                          // recorded as quantlab.method
  // Tensors encoded elsewhere (GPTQ onto GGUF blocks): name -> (type, bytes). Each must have the
  // type the plan gives it; it is written as given instead of being encoded here.
  const std::map<std::string, std::pair<FormatId, std::vector<uint8_t>>>* precomputed = nullptr;
  std::vector<std::pair<std::string, GgufValue>> extra_metadata;  // appended after quantlab.params
};

// What happens to one tensor.
struct GgufTensorPlan {
  std::string name;
  std::vector<int64_t> ne;
  FormatId from = FormatId::F32;
  FormatId to = FormatId::F32;
  bool quantizable = false;      // llama.cpp would consider changing its type
  bool requires_imatrix = false;
  bool fell_back = false;        // its row length did not fit the chosen type
  bool uses_imatrix = false;
};

// Per-tensor types for `in` (opened GGUF) and the options, in llama.cpp's tensor order.
// Throws Error naming the tensor if a type needs an imatrix that is absent, or if the imatrix
// does not fit the model.
class GgufFile;
std::vector<GgufTensorPlan> plan_gguf_quantization(const GgufFile& in, const GgufQuantizeOptions& o);

// The output's metadata and tensor infos for `plan` (nothing encoded or written): its file_size() is
// the size gguf_quantize will write. Shared by the writer and by budgets on the file size.
GgufWriter gguf_quantize_layout(const GgufFile& in, const std::string& in_path, const std::vector<GgufTensorPlan>& plan,
                                const GgufQuantizeOptions& o, const std::string& source_sha256);

// Mean x² per column as llama-quantize computes it from an imatrix entry (float division; count 0
// gives ones): the importance every GGUF encoder weighs its rounding error with.
std::vector<float> llama_quantize_importance(const ImatrixEntry& e);

struct GgufQuantizeResult {
  std::vector<GgufTensorPlan> tensors;
  uint64_t n_elements = 0;
  uint64_t bytes_in = 0;         // tensor data, input
  uint64_t bytes_out = 0;        // tensor data, output
  uint64_t file_size = 0;        // output file
  double seconds = 0;
  int n_fallback = 0;
  std::string source_sha256;
};

// i (0-based), n, tensor name: called before each tensor.
using GgufQuantizeProgress = std::function<void(size_t, size_t, const std::string&)>;

// The same, written tensor by tensor while some tensors are quantized elsewhere (GPTQ onto GGUF
// blocks, layer by layer): the plan, metadata and tensor infos are fixed when it is made and the
// header written; put() writes a precomputed tensor (of the planned type), encode_pending() encodes
// the planned tensors not yet written whose names start with a prefix, finish() the rest, then the
// file is moved into place. The source is read in row chunks whose pages are released after use.
// Without finish() (an error), no file appears. Bytes equal gguf_quantize's with the same
// precomputed tensors.
class GgufQuantizeStream {
 public:
  GgufQuantizeStream(const std::string& in_path, const std::string& out_path, const GgufQuantizeOptions& o);
  ~GgufQuantizeStream();
  void put(const std::string& name, FormatId type, const std::vector<uint8_t>& bytes);
  void encode_pending(const std::string& prefix, const GgufQuantizeProgress& progress = {});
  GgufQuantizeResult finish(const GgufQuantizeProgress& progress = {});

 private:
  void check_source(GgufTensorPlan& p, const GgufTensorInfo& t, bool encode);
  std::chrono::steady_clock::time_point t0_;
  std::string in_path_, out_path_;
  GgufQuantizeOptions o_;
  ThreadPool pool_;
  std::unique_ptr<GgufFile> in_;
  std::unique_ptr<GgufStream> stream_;
  GgufQuantizeResult r_;
  std::map<std::string, size_t> index_;
  std::vector<bool> done_;
};

// Quantizes `in_path` into `out_path` (written atomically: on any error no file appears).
GgufQuantizeResult gguf_quantize(const std::string& in_path, const std::string& out_path, const GgufQuantizeOptions& o,
                                 const GgufQuantizeProgress& progress = {});

}  // namespace quantlab
