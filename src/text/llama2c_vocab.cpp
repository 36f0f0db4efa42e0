// Vocabulary from a llama2.c tokenizer.bin: int32 max_token_length, then per token a float32 score,
// an int32 byte length and the bytes, to the end of the file. llama2.c exports SentencePiece
// pieces with U+2581 turned into ' ' and BOS/EOS as "\n<s>\n" / "\n</s>\n"; this undoes both so
// the vocabulary runs through the same SentencePiece BPE as a GGUF "llama" vocabulary.
#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/text/vocab_loaders.hpp"

#include <cstring>

namespace quantlab {

Vocab vocab_from_llama2c(const std::string& path) try {
  MappedFile file(path);
  const uint8_t* d = file.data();
  const size_t size = file.size();
  size_t pos = 0;
  const auto need = [&](size_t n, const std::string& field) {
    if (n > size - pos)
      throw Error(path, field, "truncated at offset " + std::to_string(pos) + ": need " + std::to_string(n) +
                                   " bytes, " + std::to_string(size - pos) + " left");
  };
  need(4, "max_token_length");
  int32_t max_len;
  std::memcpy(&max_len, d, 4);
  pos = 4;
  if (max_len <= 0 || max_len > 1024) throw Error(path, "max_token_length", "implausible value " + std::to_string(max_len));

  Vocab v;
  v.source = path;
  v.algorithm = TokenizerAlgorithm::SentencePieceBpe;
  v.pre = "";
  while (pos < size) {
    const std::string field = "token " + std::to_string(v.tokens.size()) + " at offset " + std::to_string(pos);
    need(8, field);
    float score;
    int32_t len;
    std::memcpy(&score, d + pos, 4);
    std::memcpy(&len, d + pos + 4, 4);
    pos += 8;
    if (len <= 0 || len > max_len)
      throw Error(path, field, "length " + std::to_string(len) + " outside 1.." + std::to_string(max_len));
    need(static_cast<size_t>(len), field);
    std::string raw(reinterpret_cast<const char*>(d + pos), static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
    std::string piece;
    for (char c : raw) {
      if (c == ' ') piece += "\xE2\x96\x81";
      else piece += c;
    }
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
  }
  if (v.tokens.size() < 259) throw Error(path, "tokens", "only " + std::to_string(v.tokens.size()) + " tokens; byte fallback needs ids 3..258");

  const size_t n = v.tokens.size();
  v.kinds.assign(n, TokenKind::Normal);
  v.tokens[0] = "<unk>";
  v.kinds[0] = TokenKind::Unknown;
  v.tokens[1] = "<s>";
  v.kinds[1] = TokenKind::Control;
  v.tokens[2] = "</s>";
  v.kinds[2] = TokenKind::Control;
  for (size_t i = 3; i < 259; ++i) {
    char expect[8];
    std::snprintf(expect, sizeof expect, "<0x%02X>", static_cast<unsigned>(i - 3));
    if (v.tokens[i] != expect)
      throw Error(path, "token " + std::to_string(i), "'" + v.tokens[i] + "' where the byte piece " + expect + " was expected");
    v.kinds[i] = TokenKind::Byte;
  }
  v.unk_id = 0, v.bos_id = 1, v.eos_id = 2;
  v.add_bos = true;
  v.add_space_prefix = true;
  return v;
} catch (...) {
  rethrow_as_error(path, "");
}

}  // namespace quantlab
