// tokenizer.json (Hugging Face tokenizers format) through the whole tokenizer construction: model
// (BPE / WordPiece / Unigram-as-BPE), vocabulary and merges, added tokens, normalizer and
// pre-tokenizer regexes (compiled by PCRE2 from untrusted text); then what loaded must encode and
// decode a few strings without failing.
#include "fuzz_file.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const std::string& path = fuzz::write_input(data, size);
  try {
    const Tokenizer tok(vocab_from_hf_tokenizer_json(path));
    for (const char* text : {"", "Hello world", " a  b\n\n", "日本語のテキスト", "\xF0\x9F\x98\x80 emoji", "<s>ab</s>"}) {
      const auto ids = tok.encode(text, true, true);
      (void)tok.decode(ids);
      (void)tok.decode(ids, true);
    }
  } catch (const Error&) {
  }
  return 0;
}
