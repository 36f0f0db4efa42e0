// llama2.c checkpoints through the io layer's reader (io/llama2c.hpp). run.c's conventions: RMSNorm
// eps 1e-5, RoPE on adjacent pairs with base 10000 (the export permuted Q/K like llama.cpp's
// converter), BOS 1 / EOS 2. The weights are used in place from the mapped file.
#include "quantlab/core/error.hpp"
#include "quantlab/io/llama2c.hpp"
#include "quantlab/model/model.hpp"

#include <memory>
#include <string>

namespace quantlab {

Model load_llama2c_model(const std::string& path) {
  auto ckpt = std::make_shared<const Llama2cCheckpoint>(path);
  const Llama2cConfig& h = ckpt->config();
  Model m;
  m.source = path;
  m.source_format = "llama2c";
  ModelConfig& c = m.config;
  c.arch = "llama";
  c.n_embd = h.dim;
  c.n_ff = h.hidden_dim;
  c.n_layer = h.n_layers;
  c.n_head = h.n_heads;
  c.n_head_kv = h.n_kv_heads;
  c.n_vocab = h.vocab_size < 0 ? -int64_t(h.vocab_size) : h.vocab_size;
  c.n_ctx_train = h.seq_len;
  c.head_dim = h.head_size();
  c.n_rot = c.head_dim;
  c.rms_eps = 1e-5f;
  c.rope_style = RopeStyle::Normal;
  c.rope_freq_base = 10000.0f;
  c.tied_embeddings = h.shared_classifier;
  c.bos_id = 1;
  c.eos_id = 2;
  c.add_bos = true;
  c.validate(path);

  auto tensor = [&](const std::string& name, int64_t n) -> const Llama2cTensor& {
    const Llama2cTensor* t = ckpt->find(name);
    if (!t) throw Error(path, name, "tensor missing");
    if (t->n_elements() != n) throw Error(path, name, "has " + std::to_string(t->n_elements()) + " values, expected " + std::to_string(n));
    return *t;
  };
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols) {
    return make_weight_matrix(FormatId::F32, tensor(name, rows * cols).data, rows, cols);
  };
  auto vec = [&](const std::string& name, int64_t n) {
    const float* p = tensor(name, n).data;
    return std::vector<float>(p, p + n);
  };
  const int64_t E = c.n_embd, F = c.n_ff, V = c.n_vocab;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  m.token_embd = mat("tok_embeddings.weight", V, E);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "layers." + std::to_string(l) + ".";
    LayerWeights w;
    w.attn_norm = vec(b + "attention_norm.weight", E);
    w.wq = mat(b + "attention.wq.weight", q_dim, E);
    w.wk = mat(b + "attention.wk.weight", kv_dim, E);
    w.wv = mat(b + "attention.wv.weight", kv_dim, E);
    w.wo = mat(b + "attention.wo.weight", E, q_dim);
    w.ffn_norm = vec(b + "ffn_norm.weight", E);
    w.ffn_gate = mat(b + "feed_forward.w1.weight", F, E);
    w.ffn_down = mat(b + "feed_forward.w2.weight", E, F);
    w.ffn_up = mat(b + "feed_forward.w3.weight", F, E);
    m.layers.push_back(std::move(w));
  }
  m.output_norm = vec("norm.weight", E);
  m.output = c.tied_embeddings ? m.token_embd : mat("output.weight", V, E);
  m.storage = ckpt;
  return m;
}

}  // namespace quantlab
