// Tokenizer::load: tells a GGUF file, a tokenizer.json, a SentencePiece tokenizer.model, a
// Hugging Face folder and a llama2.c tokenizer.bin apart by content, not by name.
#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"

#include <filesystem>
#include <fstream>

namespace quantlab {

Tokenizer Tokenizer::load(const std::string& path) try {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path json = fs::path(path) / "tokenizer.json";
    if (fs::exists(json)) {
      const fs::path cfg = fs::path(path) / "tokenizer_config.json";
      return Tokenizer(vocab_from_hf_tokenizer_json(json.string(), fs::exists(cfg) ? cfg.string() : ""));
    }
    const fs::path model = fs::path(path) / "tokenizer.model";
    if (fs::exists(model)) return Tokenizer(vocab_from_sentencepiece_model(model.string()));
    const fs::path bin = fs::path(path) / "tokenizer.bin";
    if (fs::exists(bin)) return Tokenizer(vocab_from_llama2c(bin.string()));
    throw Error(path, "", "folder has none of tokenizer.json, tokenizer.model, tokenizer.bin");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  char head[4] = {0, 0, 0, 0};
  in.read(head, 4);
  const std::streamsize got = in.gcount();
  if (got == 4 && std::string_view(head, 4) == "GGUF") {
    GgufFile f(path);
    return Tokenizer(vocab_from_gguf(f));
  }
  // JSON starts (after optional white space) with '{'.
  in.clear();
  in.seekg(0);
  char c = 0;
  while (in.get(c) && (c == ' ' || c == '\n' || c == '\r' || c == '\t')) {}
  if (c == '{') {
    const fs::path cfg = fs::path(path).parent_path() / "tokenizer_config.json";
    return Tokenizer(vocab_from_hf_tokenizer_json(path, fs::exists(cfg) ? cfg.string() : ""));
  }
  // A SentencePiece model starts with its first piece: field 1, length-delimited (0x0A), then a
  // non-zero length. A llama2.c tokenizer.bin starts with a little-endian int32 (max token
  // length), whose second byte is 0 for any plausible value.
  if (got == 4 && static_cast<uint8_t>(head[0]) == 0x0A && head[1] != 0)
    return Tokenizer(vocab_from_sentencepiece_model(path));
  return Tokenizer(vocab_from_llama2c(path));
} catch (...) {
  rethrow_as_error(path, "");
}

}  // namespace quantlab
