#include "quantlab/io/llama2c_gguf.hpp"

#include "quantlab/core/error.hpp"

#include <cctype>

namespace quantlab {
namespace {

// llama.cpp's token types (llama_token_type).
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6 };

bool is_byte_piece(const std::string& s) {  // "<0xAB>"
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' && std::isxdigit(static_cast<unsigned char>(s[3])) &&
         std::isxdigit(static_cast<unsigned char>(s[4]));
}

// SentencePiece marks spaces with U+2581 in the vocabulary; llama2.c stores plain spaces.
std::string escape_spaces(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == ' ') r += "\xe2\x96\x81";
    else r += c;
  }
  return r;
}

}  // namespace

GgufWriter llama2c_to_gguf(const Llama2cCheckpoint& ck, const Llama2cVocab& vocab) {
  const Llama2cConfig& c = ck.config();
  if (vocab.pieces.size() != size_t(c.vocab_size))
    throw Error(ck.path(), "vocab_size", "the model has " + std::to_string(c.vocab_size) + " tokens, the tokenizer " +
                                             std::to_string(vocab.pieces.size()));
  std::vector<GgufValue> tokens, scores, types;
  for (size_t id = 0; id < vocab.pieces.size(); ++id) {
    std::string text = vocab.pieces[id];
    int32_t type = kNormal;
    // llama2.c exports: 0 = <unk>, 1 = BOS, 2 = EOS (stored as "\n<s>\n" and "\n</s>\n").
    if (id == 0) text = "<unk>", type = kUnknown;
    else if (id == 1) text = "<s>", type = kControl;
    else if (id == 2) text = "</s>", type = kControl;
    else if (text.empty()) type = kControl;
    else if (is_byte_piece(text)) type = kByte;
    tokens.push_back(GgufValue::str(escape_spaces(text)));
    scores.push_back(GgufValue::f32(vocab.scores[id]));
    types.push_back(GgufValue::i32(type));
  }
  GgufWriter w;
  w.set("tokenizer.ggml.tokens", GgufValue::array(GgufType::STRING, std::move(tokens)));
  w.set("tokenizer.ggml.scores", GgufValue::array(GgufType::FLOAT32, std::move(scores)));
  w.set("tokenizer.ggml.token_type", GgufValue::array(GgufType::INT32, std::move(types)));
  w.set("tokenizer.ggml.model", GgufValue::str("llama"));
  w.set("general.architecture", GgufValue::str("llama"));
  w.set("general.name", GgufValue::str("llama"));
  w.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(0));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
  w.set("tokenizer.ggml.seperator_token_id", GgufValue::u32(0xffffffffu));  // sic: llama.cpp's key spelling
  w.set("tokenizer.ggml.padding_token_id", GgufValue::u32(0xffffffffu));
  w.set("llama.context_length", GgufValue::u32(uint32_t(c.seq_len)));
  w.set("llama.embedding_length", GgufValue::u32(uint32_t(c.dim)));
  w.set("llama.feed_forward_length", GgufValue::u32(uint32_t(c.hidden_dim)));
  w.set("llama.attention.head_count", GgufValue::u32(uint32_t(c.n_heads)));
  w.set("llama.attention.head_count_kv", GgufValue::u32(uint32_t(c.n_kv_heads)));
  w.set("llama.block_count", GgufValue::u32(uint32_t(c.n_layers)));
  w.set("llama.rope.dimension_count", GgufValue::u32(uint32_t(c.head_size())));
  w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));  // llama2.c's fixed epsilon

  auto add = [&](const std::string& gguf_name, const std::string& name) {
    const Llama2cTensor* t = ck.find(name);
    if (!t) throw Error(ck.path(), name, "missing tensor");
    std::vector<int64_t> ne(t->shape.rbegin(), t->shape.rend());  // ggml order: innermost first
    w.add_tensor(gguf_name, std::move(ne), FormatId::F32, t->data, size_t(t->n_elements()) * 4);
  };
  add("token_embd.weight", "tok_embeddings.weight");
  add("output_norm.weight", "norm.weight");
  add("output.weight", c.shared_classifier ? "tok_embeddings.weight" : "output.weight");
  for (int32_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".", p = "layers." + std::to_string(l) + ".";
    add(b + "attn_q.weight", p + "attention.wq.weight");
    add(b + "attn_k.weight", p + "attention.wk.weight");
    add(b + "attn_v.weight", p + "attention.wv.weight");
    add(b + "attn_output.weight", p + "attention.wo.weight");
    add(b + "attn_norm.weight", p + "attention_norm.weight");
    add(b + "ffn_gate.weight", p + "feed_forward.w1.weight");
    add(b + "ffn_down.weight", p + "feed_forward.w2.weight");
    add(b + "ffn_up.weight", p + "feed_forward.w3.weight");
    add(b + "ffn_norm.weight", p + "ffn_norm.weight");
  }
  return w;
}

}  // namespace quantlab
