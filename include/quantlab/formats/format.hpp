#pragma once
// The one format registry (DESIGN.md "Conventions"): every weight encoding the project reads,
// writes or computes with is one entry here. Loaders, writers, the forward pass and reports look
// types up in this table instead of switching on them.
//
// Ids of the GGUF/ggml types are the on-disk ids of the GGUF format (ggml_type), so a GGUF tensor's
// type field is a FormatId directly. Formats that only live in safetensors exports (GPTQ/AWQ int
// groups, NF4/FP4, LLM.int8) get ids from 1000 up; they never appear in a GGUF file.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace quantlab {

enum class FormatId : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

// Converts `n` values (a multiple of block_size) of one row.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
// Quantizes `n` values (a multiple of block_size) of one row. `importance` (n weights, may be
// null) weighs the rounding error per column, as llama.cpp's imatrix does.
// Pass whole rows: like llama.cpp's ggml_quantize_chunk, the importance-weighted Q4_0/Q4_1/Q5_0/
// Q5_1 encoders use the mean square of the entire row, so the bytes depend on where a row starts
// and ends. With importance == null every GGUF encoder takes llama.cpp's reference path
// (quantize_row_*_ref, or quantize_iq4_nl/xs without weights), as llama-quantize does without an
// imatrix; the output is byte-identical to llama.cpp's for the same input either way. The IQ2_XXS,
// IQ2_XS and IQ1_S encoders throw quantlab::Error without importance (llama.cpp asserts there).
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n, const float* importance);

struct FormatTraits {
  FormatId id;
  std::string_view name;      // as ggml names it: "f32", "q4_K", ... (lookup is case-insensitive)
  int64_t block_size;         // values per block
  size_t block_bytes;         // bytes per block
  bool is_quantized;
  ToFloatFn to_float;         // null if the project cannot decode this format (yet)
  FromFloatFn from_float;     // null if the project cannot encode this format (yet)
  bool needs_importance;      // true where llama.cpp refuses to quantize without an imatrix
};

// Every registered format; null for an id the project does not know.
const FormatTraits* find_format(FormatId id);
const FormatTraits* find_format(std::string_view name);
// Throws quantlab::Error for an unknown id/name.
const FormatTraits& format_traits(FormatId id);
const std::vector<const FormatTraits*>& all_formats();

// Bytes of a row of `n` values; throws if n is not a multiple of the block size.
size_t row_bytes(FormatId id, int64_t n);

}  // namespace quantlab
