// Converts a llama2.c checkpoint and its tokenizer.bin to GGUF (the library's converter, byte-identical
// to llama.cpp's): fuzz/commands makes its tiny GGUF model from ../shared's aidreams260K with it.
// Usage: fuzz_llama2c_to_gguf MODEL.bin TOKENIZER.bin OUT.gguf
#include "quantlab/core/error.hpp"
#include "quantlab/io/llama2c.hpp"
#include "quantlab/io/llama2c_gguf.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  using namespace quantlab;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s MODEL.bin TOKENIZER.bin OUT.gguf\n", argv[0]);
    return 2;
  }
  try {
    const Llama2cCheckpoint ck(argv[1]);
    llama2c_to_gguf(ck, read_llama2c_tokenizer(argv[2], ck.config().vocab_size)).write(argv[3]);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
