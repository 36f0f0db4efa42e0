#pragma once
// Layer-sequential quantization of a whole model (DESIGN.md): the calibration samples' hidden
// states go through the model one decoder layer at a time; each layer is quantized from the inputs
// it actually sees, and the *quantized* layer's outputs become the next layer's inputs. Only one
// layer's f32 weights and the activations of the calibration batch are live at a time, besides
// the result when it is kept in memory (keep_model); with a LayerSink and keep_model = false, each
// finished layer is handed over (written) and freed, and the source layer's mapped pages are
// released, so memory follows the current layer (docs/quantizers.md, "Memory").
//
//   rtn   group-wise integer round-to-nearest (no calibration)
//   gptq  Hessians from the captured inputs; true-sequential inside a layer: QKV, then the
//         attention output, then gate/up, then down, each from inputs recomputed with the already
//         quantized linears before it
//   awq   AutoAWQ's recipe from the float layer's inputs: per-channel scales folded into the
//         preceding RMSNorm (QKV, gate/up) or the preceding linear (V->O when shapes match, up->down),
//         clipping search (not for Q/K), then the AWQ min/max grid
//   nf4 / fp4 / int8  bitsandbytes' round-to-nearest encodings (no calibration)
// The token embedding and the output projection are left as they are (as GPTQ/AWQ exports do).
#include "quantlab/core/phase_times.hpp"
#include "quantlab/backend/device.hpp"
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/pipeline/memory_plan.hpp"
#include "quantlab/quant/awq.hpp"
#include "quantlab/quant/bnb_4bit.hpp"
#include "quantlab/quant/bnb_int8.hpp"
#include "quantlab/quant/gptq.hpp"
#include "quantlab/quant/gptq_gguf.hpp"
#include "quantlab/quant/int_grid.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quantlab::pipeline {

enum class Method { Rtn, Gptq, Awq, Nf4, Fp4, Int8 };
const char* method_name(Method m);
Method parse_method(const std::string& name);  // throws Error naming --method
bool method_needs_calibration(Method m);
bool method_is_int_grid(Method m);             // rtn, gptq, awq: exportable as GPTQ/AWQ tensors

struct QuantizeOptions {
  Method method = Method::Rtn;
  IntGridSpec grid;  // rtn / gptq / awq (awq forces the AwqMinMax rule, asymmetric)
  GptqOptions gptq;
  AwqOptions awq;
  bnb::Spec4bit bnb4;  // nf4 / fp4 (type set from the method)
  // gptq onto GGUF block formats: the type of every linear by tensor name (from llama.cpp's mix
  // rules, plan_gguf_quantization). Empty: integer groups (`grid`). Types without a block grid
  // (gptq_gguf_supports) are encoded by the format's own encoder with importance = diag(H).
  std::map<std::string, FormatId> gguf_types;
  // Calibration tokens per micro-batch (whole samples; <= 0: all at once). Results do not depend
  // on it (tests); it bounds the layer's intermediates (gate/up: tokens x n_ff floats each).
  int64_t micro_batch_tokens = 2048;
  // Where the calibration forward passes run. On a GPU the layer runs there and GPTQ's Hessian
  // sums stay on the device (Backend::gram_accumulate); the quantizers' own steps run on the host.
  Device device;
  // On a GPU: keep the calibration hidden states on the device between passes and layers when the
  // memory plan with them fits the budget and the free memory (else they stay on the host and each
  // pass copies them over). Results do not depend on it.
  bool hidden_on_device = true;
  // With the hidden states on the GPU: GPTQ also keeps each layer's attention result for every
  // token there (tokens x n_head * head_dim floats) when the plan with it fits, so that a layer
  // computes its attention once instead of twice. Results do not depend on it.
  bool attention_on_device = true;
  // On a GPU: the calibration passes multiply the layer's f32 working weights on TF32 tensor cores
  // (inputs rounded to 10-bit mantissas, as the f16 forward passes of GPTQ's and AWQ's reference
  // code round them), about 8x faster than exact f32 products. false: exact f32 products.
  bool tf32_calibration = true;
  // Keep the quantized model (dequantized f32 linears) and every QuantizedTensor in the result,
  // e.g. to evaluate it in the same process. false: only a LayerSink sees them.
  bool keep_model = true;
  // Memory budgets in bytes (0: none). A run whose plan (memory_plan.hpp) exceeds one is refused
  // before any work; so is a GPU run whose plan exceeds the device's free memory.
  double max_host_bytes = 0;
  double max_device_bytes = 0;
  // What the process holds before the run (its resident set: the program, tokenizer, calibration
  // text): the host plan's first part, so that the host budget is on the whole process.
  double host_resident_bytes = 0;
  // Time the run's phases (QuantizeResult::phases); on a GPU each phase waits for the device, which
  // costs the overlap of host and device work.
  bool profile = false;
};

// One quantized linear, under its canonical GGUF name (blk.N.attn_q.weight, ...), in the encoding
// its method produced; the model holds its dequantized values.
struct QuantizedTensor {
  std::string name;
  int64_t rows = 0, cols = 0;
  std::optional<IntQuantizedMatrix> int_grid;
  std::optional<bnb::Quantized4bit> bnb4;
  std::optional<bnb::Int8Rows> int8;
  std::optional<GgufBlockMatrix> gguf;  // gptq onto a GGUF type: the tensor's GGUF bytes
  bool gguf_gptq = false;               // false: the format's encoder (no grid for GPTQ)
};

// Owned f32 buffers that WeightMatrix pointers of a built model point into (kept alive through
// Model::storage together with the source model's own storage).
struct WeightStore {
  std::shared_ptr<const void> parent;
  std::deque<std::vector<float>> buffers;  // deque: adding one never moves the others
  WeightMatrix adopt(std::vector<float> values, int64_t rows, int64_t cols);
};

struct LayerStats {
  int layer = 0;
  double seconds = 0;
  double gptq_loss = 0;          // Σ over the layer's linears (GPTQ)
  int64_t dead_columns = 0;      // GPTQ
  std::vector<double> awq_ratios;  // AWQ: winning exponent per scaled group
};

struct QuantizeResult {
  // Evaluable when `complete`: quantized linears as dequantized f32, everything else from the
  // source. Without keep_model the layers hold their (final) norms and biases but no linears.
  Model model;
  bool complete = true;
  std::vector<QuantizedTensor> tensors;  // empty without keep_model
  double quantized_bits = 0, quantized_weights = 0;  // storage bits and count of the quantized linears
  std::vector<LayerStats> layers;
  int64_t calibration_tokens = 0;
  double seconds = 0;
  MemoryPlan memory_plan;       // what the run was planned to add to memory
  DeviceMemoryUse device_memory;  // the GPU backend's buffers at the end (peak: the run's most)
  std::vector<PhaseTimes::Phase> phases;  // with QuantizeOptions::profile: where the seconds went
};

// Called after each decoder layer: (layers done, total, seconds so far).
using LayerProgressFn = std::function<void(int, int, double)>;

// Receives each decoder layer as soon as it is quantized (a streamed export): `weights` holds the
// layer's final norms and biases (AWQ folds scales into them) and its quantized linears as f32,
// `tensors` its quantized linears in their encodings (the sink may move from them). Called in layer
// order, from the calling thread.
class LayerSink {
 public:
  virtual ~LayerSink() = default;
  virtual void layer_done(int layer, const LayerWeights& weights, std::vector<QuantizedTensor>& tensors) = 0;
};

// `calibration`: token sequences, each its own sample (may be empty for rtn/nf4/fp4/int8).
// Throws Error for an empty calibration set where one is needed, non-finite weights, or shapes the
// grid cannot take.
QuantizeResult quantize_model(const Model& source, const std::vector<std::vector<int32_t>>& calibration,
                              const QuantizeOptions& options, ThreadPool& pool, const LayerProgressFn& progress = {},
                              LayerSink* sink = nullptr);

// Storage bits per quantized weight of the linears (codes, scales, zeros, g_idx / absmax), as the
// export stores them.
double quantized_bits_per_weight(const QuantizeResult& r);
double quantized_bits(const QuantizedTensor& t);


// Drops a weight matrix's pages from memory if it lies in a mapped model file (no-op otherwise).
void release_weight_pages(const WeightMatrix& m);

// Decodes a matrix of any registry format to f32, row-major.
// `pool` (may be null) decodes rows in parallel (the same values).
std::vector<float> decode_matrix(const WeightMatrix& w, ThreadPool* pool = nullptr);

}  // namespace quantlab::pipeline
