// Vocabulary from GGUF metadata (tokenizer.ggml.*), with llama.cpp's per-model defaults.
#include "quantlab/core/error.hpp"
#include "quantlab/core/utf8.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "src/text/pretokenizer_patterns.hpp"

#include <algorithm>
#include <cctype>

namespace quantlab {
namespace {

const GgufArray& typed_array(const GgufFile& f, const std::string& key, std::initializer_list<GgufType> allowed) {
  const GgufArray& a = f.get(key).as_array(f.path(), key);
  if (std::find(allowed.begin(), allowed.end(), a.elem_type) == allowed.end())
    throw Error(f.path(), key, std::string("array of ") + gguf_type_name(a.elem_type) + " where " +
                                   gguf_type_name(*allowed.begin()) + " was expected");
  return a;
}

// A special-token id key: keeps the default when absent; an id outside the vocabulary is an
// error (except padding, which only informs and is dropped, as llama.cpp does).
void read_id(const GgufFile& f, const std::string& key, size_t n_tokens, int32_t& id, bool tolerate = false) {
  if (id >= static_cast<int64_t>(n_tokens)) id = -1;  // a default that does not fit this vocabulary
  const GgufValue* v = f.find(key);
  if (!v) return;
  const int64_t x = v->as_int(f.path(), key);
  if (x == 0xFFFFFFFF) return;  // u32 -1: "none", as llama.cpp's convert-llama2c (and ours) writes the separator
  if (x < 0 || x >= static_cast<int64_t>(n_tokens)) {
    if (tolerate) return;
    throw Error(f.path(), key, "token id " + std::to_string(x) + " outside the vocabulary of " + std::to_string(n_tokens));
  }
  id = static_cast<int32_t>(x);
}

void read_bool(const GgufFile& f, const std::string& key, bool& out) {
  if (const GgufValue* v = f.find(key)) out = v->as_bool(f.path(), key);
}

}  // namespace

Vocab vocab_from_gguf(const GgufFile& f) {
  Vocab v;
  v.source = f.path();
  const std::string model = f.get_string("tokenizer.ggml.model");

  const GgufArray& tokens = typed_array(f, "tokenizer.ggml.tokens", {GgufType::STRING});
  const size_t n = tokens.items.size();
  if (n == 0) throw Error(f.path(), "tokenizer.ggml.tokens", "is empty");
  v.tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string t = tokens.items[i].as_string(f.path(), "tokenizer.ggml.tokens");
    if (t.empty()) t = "[EMPTY_" + std::to_string(i) + "]";  // llama.cpp's stand-in, keeps ids unique
    const size_t bad = utf8_first_invalid(t);
    if (bad != t.size())
      throw Error(f.path(), "tokenizer.ggml.tokens[" + std::to_string(i) + "]", "invalid UTF-8 at byte " + std::to_string(bad));
    v.tokens.push_back(std::move(t));
  }

  if (f.find("tokenizer.ggml.scores")) {
    const GgufArray& s = typed_array(f, "tokenizer.ggml.scores", {GgufType::FLOAT32, GgufType::INT32});
    if (s.items.size() < n)
      throw Error(f.path(), "tokenizer.ggml.scores", std::to_string(s.items.size()) + " scores for " + std::to_string(n) + " tokens");
    v.scores.reserve(n);
    for (size_t i = 0; i < n; ++i) v.scores.push_back(static_cast<float>(s.items[i].as_double(f.path(), "tokenizer.ggml.scores")));
  }
  v.kinds.assign(n, TokenKind::Normal);
  if (f.find("tokenizer.ggml.token_type")) {
    const GgufArray& t = typed_array(f, "tokenizer.ggml.token_type", {GgufType::INT32});
    if (t.items.size() < n)
      throw Error(f.path(), "tokenizer.ggml.token_type", std::to_string(t.items.size()) + " types for " + std::to_string(n) + " tokens");
    for (size_t i = 0; i < n; ++i) {
      const int64_t k = t.items[i].as_int(f.path(), "tokenizer.ggml.token_type");
      v.kinds[i] = (k >= 1 && k <= 6) ? static_cast<TokenKind>(k) : TokenKind::Undefined;
    }
  }

  if (model == "llama") {
    v.algorithm = TokenizerAlgorithm::SentencePieceBpe;
    v.bos_id = 1, v.eos_id = 2, v.unk_id = 0;
    v.add_space_prefix = true;
    v.add_bos = true;
    v.pre = "";
  } else if (model == "bert") {
    v.algorithm = TokenizerAlgorithm::WordPiece;
    v.bos_id = 101, v.unk_id = 100, v.sep_id = 102, v.pad_id = 0;
    v.add_bos = true;
    v.add_sep = true;
    v.pre = "";
  } else if (model == "gpt2") {
    v.algorithm = TokenizerAlgorithm::ByteLevelBpe;
    v.bos_id = 11, v.eos_id = 11;
    const GgufArray& merges = typed_array(f, "tokenizer.ggml.merges", {GgufType::STRING});
    v.merges.reserve(merges.items.size());
    for (size_t i = 0; i < merges.items.size(); ++i) {
      const std::string& m = merges.items[i].as_string(f.path(), "tokenizer.ggml.merges");
      // The separator is the first space after the first byte (a merge part may start with one).
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos)
        throw Error(f.path(), "tokenizer.ggml.merges[" + std::to_string(i) + "]", "'" + m + "' is not two space-separated parts");
      v.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
    v.pre = f.get_string("tokenizer.ggml.pre", std::string("default"));
    const auto recipe = text_detail::pretokenizer_recipe(v.pre);
    if (!recipe) throw Error(f.path(), "tokenizer.ggml.pre", "unknown pre-tokenizer '" + v.pre + "'");
    v.split_regexes = recipe->regexes;
    v.ignore_merges = recipe->ignore_merges;
    v.add_bos = recipe->force_add_bos;
  } else {
    throw Error(f.path(), "tokenizer.ggml.model",
                "tokenizer '" + model + "' is not supported (llama, gpt2 and bert are)");
  }

  read_bool(f, "tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  read_id(f, "tokenizer.ggml.bos_token_id", n, v.bos_id);
  read_id(f, "tokenizer.ggml.eos_token_id", n, v.eos_id);
  read_id(f, "tokenizer.ggml.eot_token_id", n, v.eot_id);
  read_id(f, "tokenizer.ggml.eom_token_id", n, v.eom_id);
  read_id(f, "tokenizer.ggml.unknown_token_id", n, v.unk_id);
  read_id(f, "tokenizer.ggml.seperator_token_id", n, v.sep_id);
  read_id(f, "tokenizer.ggml.padding_token_id", n, v.pad_id, /*tolerate=*/true);
  read_bool(f, "tokenizer.ggml.add_bos_token", v.add_bos);
  read_bool(f, "tokenizer.ggml.add_eos_token", v.add_eos);
  read_bool(f, "tokenizer.ggml.add_sep_token", v.add_sep);
  if (v.algorithm == TokenizerAlgorithm::WordPiece) read_bool(f, "tokenizer.ggml.normalizer.lowercase", v.lowercase);
  v.chat_template = f.get_string("tokenizer.chat_template", std::string());
  v.model_name = f.get_string("general.name", std::string());

  // Phi-3 GGUFs carry no per-token strip attributes; llama.cpp sets them by model name so that
  // "<|end|>\n" swallows the newline after a special token. Same here.
  std::string lower_name = v.model_name;
  std::transform(lower_name.begin(), lower_name.end(), lower_name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower_name.find("phi-3") != std::string::npos || lower_name.find("phi3") != std::string::npos) {
    v.rstrip.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const TokenKind k = v.kinds[i];
      if (k == TokenKind::Control || k == TokenKind::UserDefined || k == TokenKind::Unknown) v.rstrip[i] = 1;
      const std::string& t = v.tokens[i];
      if (t == "</s>") v.rstrip[i] = 1;
      if (t == "<unk>" || t == "<s>" || t == "<|endoftext|>") v.rstrip[i] = 0;
    }
  }
  return v;
}

}  // namespace quantlab
