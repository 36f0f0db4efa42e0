#include "quantlab/pipeline/export_gguf.hpp"
#include "quantlab/core/error.hpp"

namespace quantlab::pipeline {

GgufExportWriter::GgufExportWriter(const std::string& in_path, const std::string& out_path, const GgufQuantizeOptions& o)
    : stream_(in_path, out_path, o) {}

void GgufExportWriter::layer_done(int layer, const LayerWeights&, std::vector<QuantizedTensor>& tensors) {
  for (QuantizedTensor& t : tensors) {
    if (!t.gguf) throw Error(t.name, "encoding", "not a GGUF block tensor");
    stream_.put(t.name, t.gguf->type, t.gguf->bytes);
    t.gguf->bytes = {};
    ++linears_;
    linears_gptq_ += t.gguf_gptq;
  }
  stream_.encode_pending("blk." + std::to_string(layer) + ".");
}

GgufQuantizeResult GgufExportWriter::finish() { return stream_.finish(); }

}  // namespace quantlab::pipeline
