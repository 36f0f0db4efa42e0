#include "quantlab/core/error.hpp"
#include "quantlab/formats/format.hpp"
#include "src/formats/format_entries.hpp"

#include <cctype>
#include <string>

namespace quantlab {

const std::vector<const FormatTraits*>& all_formats() {
  static const std::vector<const FormatTraits*> table = {
      &formats::kF32, &formats::kF16, &formats::kBF16, &formats::kI8,
      &formats::kI16, &formats::kI32, &formats::kI64,  &formats::kF64,
      &formats::kQ4_0, &formats::kQ4_1, &formats::kQ5_0, &formats::kQ5_1, &formats::kQ8_0, &formats::kQ8_1,
      &formats::kQ2_K, &formats::kQ3_K, &formats::kQ4_K, &formats::kQ5_K, &formats::kQ6_K, &formats::kQ8_K,
      &formats::kIQ4_NL, &formats::kIQ4_XS, &formats::kIQ2_XXS, &formats::kIQ2_XS, &formats::kIQ2_S,
      &formats::kIQ3_XXS, &formats::kIQ3_S, &formats::kIQ1_S, &formats::kIQ1_M,
      &formats::kTQ1_0, &formats::kTQ2_0, &formats::kMXFP4,
  };
  return table;
}

const FormatTraits* find_format(FormatId id) {
  for (const auto* f : all_formats())
    if (f->id == id) return f;
  return nullptr;
}

const FormatTraits* find_format(std::string_view name) {
  auto lower = [](std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
    return r;
  };
  const std::string want = lower(name);
  for (const auto* f : all_formats())
    if (lower(f->name) == want) return f;
  return nullptr;
}

const FormatTraits& format_traits(FormatId id) {
  if (const auto* f = find_format(id)) return *f;
  throw Error("", "format", "unknown tensor type id " + std::to_string(uint32_t(id)));
}

size_t row_bytes(FormatId id, int64_t n) {
  const auto& f = format_traits(id);
  if (n < 0 || n % f.block_size != 0)
    throw Error("", "format", "row of " + std::to_string(n) + " values is not a multiple of " +
                                  std::string(f.name) + "'s block size " + std::to_string(f.block_size));
  return size_t(n / f.block_size) * f.block_bytes;
}

}  // namespace quantlab
