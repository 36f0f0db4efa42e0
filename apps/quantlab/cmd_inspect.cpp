// quantlab inspect FILE|DIR: what a model file holds (format, architecture, tensors, metadata).
#include "command.hpp"

#include "quantlab/io/tensor_source.hpp"

#include <cstdio>
#include <iostream>

namespace quantlab::cli {
namespace {

constexpr size_t kArraySummary = 8;  // long metadata arrays show their first items only

std::string shape_text(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::string human(double x, const char* unit) {
  const char* prefix[] = {"", "K", "M", "G", "T"};
  int p = 0;
  while (x >= 1000 && p < 4) x /= 1000, ++p;
  char buf[64];
  if (p == 0) std::snprintf(buf, sizeof buf, "%.0f%s%s", x, *unit ? " " : "", unit);
  else std::snprintf(buf, sizeof buf, "%.2f %s%s", x, prefix[p], unit);
  return buf;
}

std::string value_text(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (v.is_object() && v.contains("array") && v.contains("length")) {
    s.assign(1, '[');
    s += v["array"].get<std::string>();
    s += " x ";
    s += std::to_string(v["length"].get<size_t>());
    s += "] ";
    s += v["first"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    s += " ...";
  }
  if (s.size() > 160) {
    s.resize(157);
    s.append(3, '.');
  }
  return s;
}

int run_inspect(const Args& args) {
  if (args.positional().size() != 1) throw Error("inspect", "FILE|DIR", "expects exactly one file or folder");
  const std::string path = args.positional()[0];
  const auto src = open_weight_source(path);
  uint64_t params = 0, bytes = 0;
  for (const auto& t : src->tensors()) {
    params += uint64_t(t.n_elements());
    bytes += t.nbytes;
  }
  nlohmann::json meta = src->metadata(kArraySummary);
  std::string format = src->kind();
  if (const auto* g = dynamic_cast<const GgufSource*>(src.get())) format += " v" + std::to_string(g->gguf().version());

  if (args.has("json")) {
    nlohmann::json j{{"path", path},          {"format", format},      {"architecture", src->architecture()},
                     {"tensor_count", src->tensors().size()}, {"total_params", params}, {"total_bytes", bytes},
                     {"metadata", meta},      {"tensors", nlohmann::json::array()}};
    for (const auto& t : src->tensors())
      j["tensors"].push_back({{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}, {"bytes", t.nbytes}});
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    return 0;
  }
  std::printf("file:         %s\nformat:       %s\narchitecture: %s\n", path.c_str(), format.c_str(), src->architecture().c_str());
  std::printf("tensors:      %zu\nparameters:   %llu (%s)\nsize:         %llu bytes (%s)\n", src->tensors().size(),
              (unsigned long long)params, human(double(params), "").c_str(), (unsigned long long)bytes,
              human(double(bytes), "B").c_str());
  std::printf("\nmetadata:\n");
  for (const auto& [k, v] : meta.items()) {
    if (v.is_object() && !v.contains("array")) {
      for (const auto& [k2, v2] : v.items()) std::printf("  %s.%s = %s\n", k.c_str(), k2.c_str(), value_text(v2).c_str());
    } else {
      std::printf("  %s = %s\n", k.c_str(), value_text(v).c_str());
    }
  }
  std::printf("\n%-48s %-20s %-8s %12s\n", "tensor", "shape", "dtype", "bytes");
  for (const auto& t : src->tensors())
    std::printf("%-48s %-20s %-8s %12zu\n", t.name.c_str(), shape_text(t.shape).c_str(), t.dtype.c_str(), t.nbytes);
  return 0;
}

QUANTLAB_COMMAND(Command{"inspect", "show a model file's format, architecture, tensors and metadata (GGUF, safetensors, HF folder, llama2.c)",
                         {}, run_inspect, {"FILE|DIR", "model file or folder", 1}});

}  // namespace
}  // namespace quantlab::cli
