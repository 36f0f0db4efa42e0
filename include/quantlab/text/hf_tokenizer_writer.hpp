#pragma once
// A vocabulary written as Hugging Face tokenizer files, so a model quantized from a GGUF file (whose
// tokenizer lives in GGUF metadata) can be exported as a folder that transformers, vLLM and the
// `tokenizers` library load with the same token ids quantlab and llama.cpp produce.
//
// Byte-level BPE only (GPT-2, Llama 3, Qwen2, SmolLM ...: the GGUF "gpt2" model): tokens and ranked
// merges as they are, llama.cpp's pre-tokenizer regexes as a Sequence of Split(Isolated) followed by
// ByteLevel without its own regex, added tokens (Control -> special, UserDefined -> not special),
// NFC when the source normalizes, BOS/EOS through a TemplateProcessing post-processor when the
// vocabulary adds them. SentencePiece vocabularies (scores, no merges) are refused: deriving merges
// from scores is not done.
#include "quantlab/text/vocab.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace quantlab {

// Throws Error naming vocab.source when the vocabulary cannot be expressed.
nlohmann::ordered_json hf_tokenizer_json(const Vocab& vocab);
nlohmann::ordered_json hf_tokenizer_config_json(const Vocab& vocab, int64_t model_max_length);

// Writes tokenizer.json and tokenizer_config.json into `dir` (which must exist).
void write_hf_tokenizer_files(const Vocab& vocab, int64_t model_max_length, const std::string& dir);

}  // namespace quantlab
