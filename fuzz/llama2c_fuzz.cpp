// llama2.c checkpoint header and tokenizer.bin parsers on raw bytes.
#include "quantlab/core/error.hpp"
#include "quantlab/io/llama2c.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  try {
    parse_llama2c_header("<fuzz>", data, size);
  } catch (const Error&) {
  }
  try {
    const auto v = parse_llama2c_tokenizer("<fuzz>", data, size);
    if (v.pieces.size() != v.scores.size()) __builtin_trap();
  } catch (const Error&) {
  }
  return 0;
}
