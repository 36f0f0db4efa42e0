#pragma once
// Text <-> token ids, exactly as llama.cpp (GGUF vocabularies) and Hugging Face tokenizers
// (tokenizer.json) do it: SentencePiece-style BPE, byte-level BPE with per-model pre-tokenizer
// regexes, WordPiece, and special/added tokens.
//
// Encoding first splits the text on added tokens: user-defined tokens always, control tokens only
// when parse_special is set (so "<|im_end|>" typed by a user stays text unless asked). Then each
// text piece goes through the vocabulary's algorithm. add_special adds BOS/EOS (or CLS/SEP) as the
// vocabulary's add_bos/add_eos rules say.
//
// A Tokenizer is immutable after construction; encode/decode may run from several threads.
#include "quantlab/text/vocab.hpp"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace quantlab {

class Tokenizer {
 public:
  explicit Tokenizer(Vocab vocab);  // validates; throws Error naming vocab.source and the field
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Loads from a GGUF file, a tokenizer.json (with tokenizer_config.json beside it when present),
  // a SentencePiece tokenizer.model, a Hugging Face model folder, or a llama2.c tokenizer.bin
  // (told apart by content).
  static Tokenizer load(const std::string& path);

  std::vector<int32_t> encode(std::string_view text, bool add_special = true, bool parse_special = false) const;
  // Concatenated token pieces. Control/unknown tokens are rendered as their text unless
  // skip_special. SentencePiece vocabularies drop the space the encoder prefixed to the first
  // piece ("Hello"), unless a rendered special token comes first ("<s> Hello", as Hugging Face).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The bytes one token stands for (byte tokens give one byte, control tokens their text).
  std::string token_piece(int32_t id) const;
  const std::string& token_text(int32_t id) const;  // the vocabulary string itself
  int32_t token_id(std::string_view text) const;    // -1 when absent

  size_t vocab_size() const { return vocab().tokens.size(); }
  int32_t bos_id() const { return vocab().bos_id; }
  int32_t eos_id() const { return vocab().eos_id; }
  int32_t eot_id() const { return vocab().eot_id; }  // end of turn (<|im_end|>, <|eot_id|>, ...) or -1
  int32_t unk_id() const { return vocab().unk_id; }
  int32_t pad_id() const { return vocab().pad_id; }
  bool add_bos() const { return vocab().add_bos; }
  bool add_eos() const { return vocab().add_eos; }
  // Tokens that end generation: EOS, EOT, EOM and the well-known end-of-turn texts.
  const std::set<int32_t>& end_of_generation_ids() const;
  bool is_end_of_generation(int32_t id) const { return end_of_generation_ids().count(id) > 0; }
  bool is_control(int32_t id) const;
  TokenKind kind(int32_t id) const;

  const Vocab& vocab() const;

 private:
  struct Impl;  // holds the vocabulary and the algorithm objects that point into it
  void check_id(int32_t id) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantlab
