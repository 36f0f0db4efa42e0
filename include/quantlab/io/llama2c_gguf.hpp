#pragma once
// A llama2.c checkpoint and its tokenizer.bin as a GGUF that llama.cpp loads (architecture
// "llama", f32 tensors, SentencePiece-style vocab), laid out as llama.cpp's own
// convert-llama2c-to-ggml lays it out: same keys in the same order, same tensor names and order,
// so the two files can be compared byte for byte. The tied classifier is written as output.weight.
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/io/llama2c.hpp"

namespace quantlab {

// Tensor data is borrowed from `ck`: keep it alive until the writer has written.
GgufWriter llama2c_to_gguf(const Llama2cCheckpoint& ck, const Llama2cVocab& vocab);

}  // namespace quantlab
