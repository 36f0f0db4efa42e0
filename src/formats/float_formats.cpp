// Unquantized element types: f32, f16, bf16 (and the integer types GGUF can carry).
#include "quantlab/core/half.hpp"
#include "src/formats/format_entries.hpp"

#include <cstring>

namespace quantlab::formats {
namespace {

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * 4); }
void f32_from_float(const float* src, void* dst, int64_t n, const float*) { std::memcpy(dst, src, size_t(n) * 4); }

void f16_to_float(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n, const float*) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
}
void bf16_to_float(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}
void bf16_from_float(const float* src, void* dst, int64_t n, const float*) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
}

}  // namespace

const FormatTraits kF32{FormatId::F32, "f32", 1, 4, false, f32_to_float, f32_from_float, false};
const FormatTraits kF16{FormatId::F16, "f16", 1, 2, false, f16_to_float, f16_from_float, false};
const FormatTraits kBF16{FormatId::BF16, "bf16", 1, 2, false, bf16_to_float, bf16_from_float, false};
const FormatTraits kI8{FormatId::I8, "i8", 1, 1, false, nullptr, nullptr, false};
const FormatTraits kI16{FormatId::I16, "i16", 1, 2, false, nullptr, nullptr, false};
const FormatTraits kI32{FormatId::I32, "i32", 1, 4, false, nullptr, nullptr, false};
const FormatTraits kI64{FormatId::I64, "i64", 1, 8, false, nullptr, nullptr, false};
const FormatTraits kF64{FormatId::F64, "f64", 1, 8, false, nullptr, nullptr, false};

}  // namespace quantlab::formats
