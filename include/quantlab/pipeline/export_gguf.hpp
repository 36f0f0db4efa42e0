#pragma once
// GPTQ onto GGUF block types written while the model is quantized (a LayerSink): each finished
// layer's linears go into the file as precomputed tensors and the layer's other tensors (norms) are
// encoded right after, so nothing of a layer is kept; finish() encodes what remains (embedding,
// output, final norm) and moves the file into place. Same bytes as quantizing in memory and then
// calling gguf_quantize with every linear precomputed.
#include "quantlab/pipeline/quantize_model.hpp"
#include "quantlab/quant/gguf_quantize.hpp"

#include <string>

namespace quantlab::pipeline {

class GgufExportWriter : public LayerSink {
 public:
  GgufExportWriter(const std::string& in_path, const std::string& out_path, const GgufQuantizeOptions& o);
  void layer_done(int layer, const LayerWeights& weights, std::vector<QuantizedTensor>& tensors) override;
  GgufQuantizeResult finish();
  int64_t linears() const { return linears_; }
  int64_t linears_gptq() const { return linears_gptq_; }  // the rest: the format's encoder (no grid)

 private:
  GgufQuantizeStream stream_;
  int64_t linears_ = 0, linears_gptq_ = 0;
};

}  // namespace quantlab::pipeline
