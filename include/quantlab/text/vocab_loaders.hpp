#pragma once
// Where vocabularies come from. Each loader checks what it reads and throws quantlab::Error naming
// the file and the field (metadata key, JSON pointer, byte offset) on bad input.
#include "quantlab/text/vocab.hpp"

#include <string>

namespace quantlab {

class GgufFile;

// GGUF metadata tokenizer.ggml.* (model, tokens, scores, token_type, merges, pre, special ids,
// add_bos_token/add_eos_token/add_space_prefix, chat_template), with llama.cpp's defaults.
Vocab vocab_from_gguf(const GgufFile& file);

// Hugging Face tokenizer.json (BPE or WordPiece models, added tokens, normalizer, pre-tokenizer,
// post-processor); config_path (tokenizer_config.json, may be empty) adds bos/eos/add_bos/add_eos
// and the chat template.
Vocab vocab_from_hf_tokenizer_json(const std::string& path, const std::string& config_path = "");

// llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length,
// bytes. Its semantics are SentencePiece BPE: id 0 <unk>, 1 BOS, 2 EOS, 3..258 byte fallback.
Vocab vocab_from_llama2c(const std::string& path);

}  // namespace quantlab
