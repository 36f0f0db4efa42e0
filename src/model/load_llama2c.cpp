// llama2.c checkpoints (Karpathy's legacy .bin): a header of 7 int32 (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means a separate classifier),
// then f32 arrays in a fixed order. run.c rotates adjacent pairs with base 10000 and eps 1e-5.
// The weights are used in place from the mapped file. (A private minimal reader: the io layer's
// checkpoint reader will replace it.)
#include "quantlab/core/error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/model/model.hpp"

#include <cstring>
#include <memory>
#include <string>

namespace quantlab {

Model load_llama2c_model(const std::string& path) {
  auto file = std::make_shared<const MappedFile>(path);
  const MappedFile& f = *file;
  constexpr size_t kHeader = 7 * sizeof(int32_t);
  if (f.size() < kHeader) throw Error(path, "header", "file of " + std::to_string(f.size()) + " bytes is shorter than the 28-byte header");
  int32_t h[7];
  std::memcpy(h, f.data(), kHeader);
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i)
    if ((i == 5 ? (h[i] == 0 || h[i] < -(1 << 24) || h[i] > (1 << 24)) : (h[i] <= 0 || h[i] > (1 << 20))))
      throw Error(path, std::string("header.") + names[i], "implausible value " + std::to_string(h[i]));

  Model m;
  m.source = path;
  m.source_format = "llama2c";
  ModelConfig& c = m.config;
  c.arch = "llama";
  c.n_embd = h[0];
  c.n_ff = h[1];
  c.n_layer = h[2];
  c.n_head = h[3];
  c.n_head_kv = h[4];
  const bool shared = h[5] > 0;
  c.n_vocab = shared ? h[5] : -int64_t(h[5]);
  c.n_ctx_train = h[6];
  if (c.n_embd % c.n_head != 0) throw Error(path, "header.n_heads", "does not divide dim");
  c.head_dim = c.n_embd / c.n_head;
  c.n_rot = c.head_dim;
  c.rms_eps = 1e-5f;
  c.rope_style = RopeStyle::Normal;
  c.rope_freq_base = 10000.0f;
  c.tied_embeddings = shared;
  c.bos_id = 1;
  c.eos_id = 2;
  c.add_bos = true;
  c.validate(path);

  const int64_t E = c.n_embd, L = c.n_layer, F = c.n_ff, V = c.n_vocab, hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  // Offsets in floats, checked against the file size before any pointer is formed.
  int64_t off = 0;
  auto take = [&](int64_t count) { const int64_t at = off; off += count; return at; };
  const int64_t o_emb = take(V * E), o_rms_att = take(L * E), o_wq = take(L * E * q_dim), o_wk = take(L * E * kv_dim),
                o_wv = take(L * E * kv_dim), o_wo = take(L * q_dim * E), o_rms_ffn = take(L * E), o_w1 = take(L * E * F),
                o_w2 = take(L * F * E), o_w3 = take(L * E * F), o_rms_final = take(E);
  take(c.n_ctx_train * hd / 2);  // freq_cis_real (unused: run.c computes the angles)
  take(c.n_ctx_train * hd / 2);  // freq_cis_imag
  const int64_t o_cls = shared ? o_emb : take(V * E);
  const uint64_t need = kHeader + uint64_t(off) * sizeof(float);
  if (f.size() != need)
    throw Error(path, "size", "file has " + std::to_string(f.size()) + " bytes, the header implies " + std::to_string(need));

  const float* base = reinterpret_cast<const float*>(f.data() + kHeader);
  auto mat = [&](int64_t at, int64_t rows, int64_t cols) { return make_weight_matrix(FormatId::F32, base + at, rows, cols); };
  auto vec = [&](int64_t at, int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    std::memcpy(v.data(), f.data() + kHeader + size_t(at) * sizeof(float), size_t(n) * sizeof(float));
    return v;
  };
  m.token_embd = mat(o_emb, V, E);
  for (int64_t l = 0; l < L; ++l) {
    LayerWeights w;
    w.attn_norm = vec(o_rms_att + l * E, E);
    w.wq = mat(o_wq + l * E * q_dim, q_dim, E);
    w.wk = mat(o_wk + l * E * kv_dim, kv_dim, E);
    w.wv = mat(o_wv + l * E * kv_dim, kv_dim, E);
    w.wo = mat(o_wo + l * q_dim * E, E, q_dim);
    w.ffn_norm = vec(o_rms_ffn + l * E, E);
    w.ffn_gate = mat(o_w1 + l * E * F, F, E);
    w.ffn_down = mat(o_w2 + l * F * E, E, F);
    w.ffn_up = mat(o_w3 + l * E * F, F, E);
    m.layers.push_back(std::move(w));
  }
  m.output_norm = vec(o_rms_final, E);
  m.output = mat(o_cls, V, E);
  m.storage = file;
  return m;
}

}  // namespace quantlab
