#pragma once
// Registry entries, one object per format, defined next to that format's quantize/dequantize code.
// registry.cpp lists them; nothing else includes this header.
#include "quantlab/formats/format.hpp"

namespace quantlab::formats {
extern const FormatTraits kF32, kF16, kBF16, kI8, kI16, kI32, kI64, kF64;
}  // namespace quantlab::formats
