// The names llama-quantize accepts, their llama_ftype numbers (general.file_type) and default
// tensor types (facts from llama.cpp's include/llama.h and src/llama-quant.cpp).
#include "quantlab/core/error.hpp"
#include "quantlab/quant/gguf_quantize.hpp"

#include <algorithm>
#include <cctype>

namespace quantlab {
namespace {

struct FtypeRow {
  const char* name;
  uint32_t ftype;
  FormatId default_type;
};

constexpr FtypeRow kFtypes[] = {
    {"F32", 0, FormatId::F32},         {"F16", 1, FormatId::F16},           {"BF16", 32, FormatId::BF16},
    {"Q4_0", 2, FormatId::Q4_0},       {"Q4_1", 3, FormatId::Q4_1},         {"Q8_0", 7, FormatId::Q8_0},
    {"Q5_0", 8, FormatId::Q5_0},       {"Q5_1", 9, FormatId::Q5_1},         {"Q2_K", 10, FormatId::Q2_K},
    {"Q2_K_S", 21, FormatId::Q2_K},    {"Q3_K_S", 11, FormatId::Q3_K},      {"Q3_K_M", 12, FormatId::Q3_K},
    {"Q3_K_L", 13, FormatId::Q3_K},    {"Q3_K", 12, FormatId::Q3_K},        {"Q4_K_S", 14, FormatId::Q4_K},
    {"Q4_K_M", 15, FormatId::Q4_K},    {"Q4_K", 15, FormatId::Q4_K},        {"Q5_K_S", 16, FormatId::Q5_K},
    {"Q5_K_M", 17, FormatId::Q5_K},    {"Q5_K", 17, FormatId::Q5_K},        {"Q6_K", 18, FormatId::Q6_K},
    {"IQ2_XXS", 19, FormatId::IQ2_XXS}, {"IQ2_XS", 20, FormatId::IQ2_XS},   {"IQ2_S", 28, FormatId::IQ2_XS},
    {"IQ2_M", 29, FormatId::IQ2_S},    {"IQ3_XS", 22, FormatId::IQ3_S},     {"IQ3_XXS", 23, FormatId::IQ3_XXS},
    {"IQ3_S", 26, FormatId::IQ3_S},    {"IQ3_M", 27, FormatId::IQ3_S},      {"IQ1_S", 24, FormatId::IQ1_S},
    {"IQ1_M", 31, FormatId::IQ1_M},    {"IQ4_NL", 25, FormatId::IQ4_NL},    {"IQ4_XS", 30, FormatId::IQ4_XS},
    {"TQ1_0", 36, FormatId::TQ1_0},    {"TQ2_0", 37, FormatId::TQ2_0},      {"MXFP4_MOE", 38, FormatId::MXFP4},
};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}

}  // namespace

GgufTarget parse_gguf_target(const std::string& name) {
  const std::string u = upper(name);
  for (const auto& r : kFtypes)
    if (u == r.name) {
      const auto& t = format_traits(r.default_type);
      if (t.is_quantized && !t.from_float) throw Error("--type", name, "quantlab cannot encode " + std::string(t.name) + " yet");
      return {u, r.ftype, r.default_type, true};
    }
  std::string list;
  for (const auto& n : gguf_target_names()) list += (list.empty() ? "" : " ") + n;
  throw Error("--type", name, "unknown GGUF type; one of: " + list);
}

std::vector<std::string> gguf_target_names() {
  std::vector<std::string> v;
  for (const auto& r : kFtypes) v.emplace_back(r.name);
  return v;
}

}  // namespace quantlab
