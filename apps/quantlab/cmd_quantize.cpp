// quantlab quantize --method M ...: one entry per method in kMethods; each method's logic lives in
// the library, this file only parses flags, reports progress and prints the summary.
#include "command.hpp"
#include "eval_input.hpp"
#include "gguf_options.hpp"
#include "progress_line.hpp"
#include "quantize_allocation.hpp"
#include "quantize_calibrated.hpp"

#include "quantlab/core/process_memory.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/quant/gguf_quantize.hpp"


#include <cstdio>
#include <map>
#include <string>

namespace quantlab::cli {
namespace {

int quantize_gguf(const Args& args) {
  if (wants_allocation(args)) return run_quantize_allocation(args);
  GgufQuantizeOptions o;
  Imatrix imatrix;
  const nlohmann::json params = gguf_options_from_args(args, o, imatrix);
  const std::string model_path = args.require("model"), out = args.require("out");
  o.params_json = params.dump();
  const GgufSourceFile source(args, model_path, out);
  const std::string& in = source.path();

  const bool json = args.has("json");
  const int64_t n_requantized = check_requantize(args, model_path, plan_gguf_quantization(GgufFile(in), o));
  if (n_requantized > 0 && !json)
    std::fprintf(stderr, "quantize: requantizing %lld already quantized tensors (--allow-requantize): expect more error than from the original\n",
                 static_cast<long long>(n_requantized));
  ProgressLine progress("quantize");
  const GgufQuantizeResult r = gguf_quantize(in, out, o, [&](size_t i, size_t n, const std::string& name) {
    progress.update(int64_t(i), int64_t(n), name);
  });
  progress.finish();
  const double bpw = r.n_elements ? 8.0 * double(r.bytes_out) / double(r.n_elements) : 0.0;
  std::map<std::string, int> type_counts;  // tensors per output type
  for (const auto& t : r.tensors) ++type_counts[std::string(format_traits(t.to).name)];
  const nlohmann::json types = type_counts;
  if (json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : r.tensors)
      tensors.push_back({{"name", t.name}, {"from", std::string(format_traits(t.from).name)},
                         {"to", std::string(format_traits(t.to).name)}, {"fallback", t.fell_back},
                         {"imatrix", t.uses_imatrix}});
    print_json({{"command", "quantize"}, {"method", "gguf"}, {"quantlab", QUANTLAB_VERSION},
                {"model", {{"path", model_path}, {"sha256", source.converted() ? sha256_file(model_path) : r.source_sha256}}}, {"out", out}, {"params", params},
                {"file_type", o.target.file_type}, {"bpw", bpw}, {"bytes_out", r.bytes_out}, {"file_size", r.file_size},
                {"n_elements", r.n_elements}, {"n_fallback", r.n_fallback}, {"n_requantized", n_requantized}, {"types", types}, {"tensors", tensors},
                {"seconds", r.seconds}, {"peak_rss_mib", peak_resident_bytes() / kMiB}});
  } else {
    std::printf("%s -> %s: %s, %.3f bpw, %.2f MiB (tensor data %.2f MiB -> %.2f MiB), %zu tensors (%d fell back), %.1f s, peak RSS %.0f MiB\n",
                model_path.c_str(), out.c_str(), o.target.name.c_str(), bpw, double(r.file_size) / 1048576.0,
                double(r.bytes_in) / 1048576.0, double(r.bytes_out) / 1048576.0, r.tensors.size(), r.n_fallback,
                r.seconds, peak_resident_bytes() / kMiB);
  }
  return 0;
}

// The methods `quantize` dispatches to; other methods join this table.
struct Method {
  const char* name;
  int (*run)(const Args&);
};
constexpr Method kMethods[] = {
    {"gguf", quantize_gguf},          {"rtn", run_quantize_calibrated}, {"gptq", run_quantize_calibrated},
    {"awq", run_quantize_calibrated}, {"nf4", run_quantize_calibrated}, {"fp4", run_quantize_calibrated},
    {"int8", run_quantize_calibrated},
};

// The gguf method's flags plus those of the layer-sequential methods (each name once).
std::vector<FlagSpec> quantize_flags() {
  std::vector<FlagSpec> flags = {
      {"method", Takes::Value, "gguf | rtn | gptq | awq | nf4 | fp4 | int8"},
      {"type", Takes::Value, "gguf: GGUF type or llama.cpp mix: Q4_K_M, Q8_0, IQ4_XS, F32 (dequantize), ...; gptq: GPTQ onto the mix's block types, GGUF output"},
      {"model", Takes::Value, "input model (gguf: GGUF, or a llama2.c checkpoint with --tokenizer)"},
      {"out", Takes::Value, "output GGUF file (gguf, gptq --type) or Hugging Face folder (other methods), written atomically"},
      {"imatrix", Takes::Value, "gguf: importance matrix (llama.cpp GGUF or .dat); gptq --type: for the tensors GPTQ does not quantize (embedding, output)"},
      {"tensor-type", Takes::Values, "gguf, gptq --type: PATTERN=TYPE: tensors whose name matches the regex get TYPE"},
      {"output-tensor-type", Takes::Value, "gguf, gptq --type: type of output.weight"},
      {"token-embedding-type", Takes::Value, "gguf, gptq --type: type of token_embd.weight"},
      {"pure", Takes::Nothing, "gguf, gptq --type: every quantizable tensor gets the default type (no mix rules)"},
      {"allow-requantize", Takes::Nothing, "gguf, gptq --type: quantize tensors that are already quantized (loses more than quantizing the original)"},
      {"threads", Takes::Value, "worker threads (default: all cores)"}};
  for (const auto& f : quantize_allocation_flags()) flags.push_back(f);
  for (const auto& f : quantize_calibrated_flags()) {
    bool known = false;
    for (const auto& g : flags) known = known || g.name == f.name;
    if (!known) flags.push_back(f);
  }
  return flags;
}

int run_quantize(const Args& args) {
  const std::string method = args.require("method");
  for (const auto& m : kMethods)
    if (method == m.name) return m.run(args);
  std::string names;
  for (const auto& m : kMethods) names += (names.empty() ? "" : ", ") + std::string(m.name);
  throw Error("--method", method, "unknown method; one of: " + names);
}

QUANTLAB_COMMAND(Command{"quantize",
                         "quantize a model: llama.cpp GGUF types and mixes, or layer by layer (rtn, gptq, awq, nf4, fp4, int8)",
                         quantize_flags(), run_quantize});

}  // namespace
}  // namespace quantlab::cli
