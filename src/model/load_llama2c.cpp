// llama2.c checkpoints through the io layer's reader (io/llama2c.hpp). run.c's conventions: RMSNorm
// eps 1e-5, RoPE on adjacent pairs with base 10000 (the export permuted Q/K like llama.cpp's
// converter), BOS 1 / EOS 2. The weights are used in place from the mapped file.
#include "quantlab/core/error.hpp"
#include "quantlab/io/llama2c.hpp"
#include "quantlab/model/model.hpp"
#include "src/model/assemble_weights.hpp"

#include "quantlab/core/mapped_file.hpp"

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

  struct Reader {
    const Llama2cCheckpoint& ckpt;
    const std::string& path;
    const Llama2cTensor& tensor(const std::string& name, int64_t n) const {
      const Llama2cTensor* t = ckpt.find(name);
      if (!t) throw Error(path, name, "tensor missing");
      if (t->n_elements() != n)
        throw Error(path, name, "has " + std::to_string(t->n_elements()) + " values, expected " + std::to_string(n));
      return *t;
    }
    WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
      return make_weight_matrix(FormatId::F32, tensor(name, rows * cols).data, rows, cols);
    }
    std::vector<float> vec(const std::string& name, int64_t n) const {
      const float* p = tensor(name, n).data;
      std::vector<float> out(p, p + n);
      release_mapped_pages(p, size_t(n) * sizeof(float));
      return out;
    }
  };
  detail::assemble_weights(m, Reader{*ckpt, path}, detail::llama2c_tensor_names());
  m.storage = ckpt;
  return m;
}

}  // namespace quantlab
