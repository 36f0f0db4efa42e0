#include "quantlab/quant/imatrix_collect.hpp"

#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/model/session.hpp"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

namespace quantlab {
namespace {

class ImatrixObserver : public ActivationObserver {
 public:
  ImatrixObserver(Imatrix& m, bool output, int64_t min_tokens) : m_(m), output_(output), min_tokens_(min_tokens) {}
  void on_linear_input(int layer, LinearInput which, const float* x, int64_t n_tokens, int64_t n_features) override {
    if (!wanted(which, n_tokens)) return;
    for (const std::string& name : linear_input_tensors(layer, which)) m_.add(name, x, n_tokens, n_features);
  }
  // On a GPU the sums stay there (Backend::column_moments, the bits of Imatrix::add), once per input
  // rather than once per weight that reads it; finish() brings them to the matrix.
  bool on_linear_input_on(Backend& be, int layer, LinearInput which, const Tensor& x) override {
    if (!wanted(which, x.rows)) return true;
    Sums& s = device_[{layer, int(which)}];
    if (s.sums.empty()) {
      s.sums = be.alloc(FormatId::F64, 2, x.cols);
      be.zero(s.sums);
      s.backend = &be;
    }
    be.column_moments(x, s.sums);
    s.tokens += x.rows;
    return true;
  }
  void finish() {
    for (auto& [key, s] : device_) {
      std::vector<double> host(size_t(2 * s.sums.cols));
      s.backend->to_host(s.sums, host.data());
      for (const std::string& name : linear_input_tensors(key.first, LinearInput(key.second))) {
        ImatrixEntry& e = m_.entries[name];
        e.sum_x2.assign(host.begin(), host.begin() + s.sums.cols);
        e.sum_x.assign(host.begin() + s.sums.cols, host.end());
        e.count = s.tokens;
      }
    }
    device_.clear();
  }

 private:
  bool wanted(LinearInput which, int64_t n_tokens) const {
    // llama.cpp ignores small matmuls (e.g. single-token decode)
    return n_tokens >= min_tokens_ && (which != LinearInput::Output || output_);
  }
  struct Sums {
    Tensor sums;  // [2][n] F64 on the device: Σx², Σx
    Backend* backend = nullptr;
    int64_t tokens = 0;
  };
  Imatrix& m_;
  bool output_;
  int64_t min_tokens_;
  std::map<std::pair<int, int>, Sums> device_;
};

}  // namespace

Imatrix collect_imatrix(const Model& model, std::span<const int32_t> tokens, const ImatrixOptions& o,
                        const ImatrixProgress& progress) {
  if (o.n_ctx < 16) throw Error("--ctx", "", "must be at least 16");
  const int64_t available = int64_t(tokens.size()) / o.n_ctx;
  if (available < 1)
    throw Error("imatrix", "tokens", "the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                                         std::to_string(o.n_ctx));
  const int64_t n_chunks = o.n_chunks > 0 ? std::min(o.n_chunks, available) : available;
  if (o.add_bos && o.bos_id < 0) throw Error(model.source, "bos_token_id", "the model adds BOS but names no BOS token");
  Imatrix m;
  m.chunk_size = o.n_ctx;
  // A tied output projection is the token embedding, which llama.cpp never collects.
  ImatrixObserver observer(m, o.process_output && !model.config.tied_embeddings, 16);
  ThreadPool pool(o.threads);
  Session session(model, pool, o.n_ctx, o.device, KvStorage::Exact);
  session.backend().allow_tf32(o.tf32);
  session.set_observer(&observer);
  std::vector<int32_t> chunk(size_t(o.n_ctx));
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(tokens.begin() + c * o.n_ctx, tokens.begin() + (c + 1) * o.n_ctx, chunk.begin());
    if (o.add_bos) chunk[0] = o.bos_id;
    session.rewind(0);
    // llama.cpp asks for every token's logits, so output.weight sees every token.
    session.forward(chunk, o.process_output ? 0 : o.n_ctx - 1);
    m.chunk_count = c + 1;
    if (progress) progress(c + 1, n_chunks);
  }
  observer.finish();
  return m;
}

Imatrix collect_imatrix(const Model& model, const std::vector<std::vector<int32_t>>& sequences, const ImatrixOptions& o,
                        const ImatrixProgress& progress) {
  if (sequences.empty()) throw Error("imatrix", "samples", "no calibration sequence to collect from");
  size_t longest = 0;
  for (const auto& s : sequences) longest = std::max(longest, s.size());
  if (longest == 0) throw Error("imatrix", "samples", "every calibration sequence is empty");
  Imatrix m;
  m.chunk_size = int64_t(longest);
  ImatrixObserver observer(m, o.process_output && !model.config.tied_embeddings, 1);
  ThreadPool pool(o.threads);
  Session session(model, pool, int64_t(longest), o.device, KvStorage::Exact);
  session.backend().allow_tf32(o.tf32);
  session.set_observer(&observer);
  const int64_t n = int64_t(sequences.size());
  for (int64_t i = 0; i < n; ++i) {
    const auto& seq = sequences[size_t(i)];
    if (!seq.empty()) {
      session.rewind(0);
      session.forward(seq, o.process_output ? 0 : int64_t(seq.size()) - 1);
    }
    m.chunk_count = i + 1;
    if (progress) progress(i + 1, n);
  }
  observer.finish();
  return m;
}

}  // namespace quantlab
