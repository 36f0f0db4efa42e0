// Flag parsing and reporting for bit allocation; the work is run_bit_allocation's.
#include "quantize_allocation.hpp"

#include "command.hpp"
#include "eval_input.hpp"
#include "model_tokenizer.hpp"
#include "progress_line.hpp"

#include "quantlab/core/mapped_file.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/pipeline/bit_allocation.hpp"

#include <cstdio>
#include <string>

namespace quantlab::cli {

bool wants_allocation(const Args& args) { return args.has("target-bpw") || args.has("target-size"); }

std::vector<FlagSpec> quantize_allocation_flags() {
  return {
      {"target-bpw", Takes::Value, "gguf: choose each tensor's type by measured sensitivity, at most B bits per weight (8 x tensor bytes / weights, as llama.cpp prints BPW)"},
      {"target-size", Takes::Value, "gguf: the same under a file size: 2.5GiB, 700MiB, 90MB or bytes"},
      {"alloc-types", Takes::Value, "with --target-*: candidate types (default Q2_K,Q3_K,IQ4_XS,Q4_K,Q5_K,Q6_K,Q8_0; llama.cpp's fallbacks where rows do not fit)"},
      {"alloc-unit", Takes::Value, "with --target-*: what gets one type: tensor | group (a layer's attention, its FFN; default) | layer"},
      {"alloc-text", Takes::Value, "with --target-*: held-out text the sensitivities are measured on"},
      {"alloc-chunks", Takes::Value, "with --target-*: chunks of that text (default 2)"},
      {"alloc-ctx", Takes::Value, "with --target-*: tokens per chunk (default 256; the second half of each is scored, as eval kld does)"},
      {"alloc-reuse", Takes::Value, "with --target-*: take the measurement from an earlier allocation GGUF of the same model instead"},
  };
}

int run_quantize_allocation(const Args& args) {
  if (args.has("target-bpw") && args.has("target-size")) throw Error("--target-bpw", "", "give one of --target-bpw and --target-size");
  for (const char* flag : {"type", "pure", "tensor-type", "output-tensor-type", "token-embedding-type"})
    if (args.has(flag))
      throw Error(std::string("--") + flag, "", "the allocation chooses every tensor's type: drop it, or drop --target-bpw/--target-size");
  BitAllocationOptions o;
  o.budget = args.has("target-bpw") ? parse_target_bpw(args.require("target-bpw")) : parse_target_size(args.require("target-size"));
  if (auto u = args.get("alloc-unit")) o.unit = parse_allocation_unit(*u);
  if (auto t = args.get("alloc-types")) o.ladder = parse_allocation_ladder(*t);
  o.n_chunks = args.get_int("alloc-chunks", o.n_chunks);
  o.n_ctx = args.get_int("alloc-ctx", o.n_ctx);
  if (o.n_chunks < 1 || o.n_chunks > 100000) throw Error("--alloc-chunks", std::to_string(o.n_chunks), "must be between 1 and 100000");
  if (o.n_ctx < 4 || o.n_ctx > (1 << 20)) throw Error("--alloc-ctx", std::to_string(o.n_ctx), "must be between 4 and 1048576");
  o.threads = thread_count(args);
  const std::string model_path = args.require("model"), out = args.require("out");
  if (model_file_kind(model_path) != ModelFileKind::Gguf)
    throw Error(model_path, "", "bit allocation reads GGUF files: convert it first (quantlab convert, or --method gguf --type F32)");
  Imatrix imatrix;
  if (auto path = args.get("imatrix")) {
    imatrix = read_imatrix(*path);
    o.imatrix = &imatrix;
    o.imatrix_path = *path;
  }
  if (auto reuse = args.get("alloc-reuse")) {
    if (args.has("alloc-text")) throw Error("--alloc-reuse", *reuse, "reuses a measurement: drop --alloc-text");
    o.reuse_path = *reuse;
  } else {
    o.text_path = args.require("alloc-text");
    const std::optional<Tokenizer> tokenizer = tokenizer_for_model(args, model_path);
    if (!tokenizer) throw Error("--alloc-text", "", "this model has no tokenizer inside; give --tokenizer PATH");
    const MappedFile text(o.text_path);
    o.tokens = tokenizer->encode({reinterpret_cast<const char*>(text.data()), text.size()}, true, false);
    o.text_sha256 = sha256_file(o.text_path);
  }
  nlohmann::json params = {{"budget", o.budget.text}, {"alloc_unit", allocation_unit_name(o.unit)},
                           {"alloc_chunks", o.n_chunks}, {"alloc_ctx", o.n_ctx}};
  for (FormatId t : o.ladder) params["alloc_types"].push_back(std::string(format_traits(t).name));
  if (o.imatrix) params["imatrix"] = o.imatrix_path;
  if (!o.reuse_path.empty()) params["alloc_reuse"] = o.reuse_path;
  else params["alloc_text"] = o.text_path;
  o.params_json = params.dump();

  ProgressLine measuring("measure"), writing("quantize");
  BitAllocationProgress progress;
  progress.measure = [&](int64_t done, int64_t total, const std::string& unit) { measuring.update(done, total, unit); };
  progress.write = [&](size_t i, size_t n, const std::string& name) { writing.update(int64_t(i), int64_t(n), name); };
  const BitAllocationResult r = run_bit_allocation(model_path, out, o, progress);
  measuring.finish();
  writing.finish();

  const GgufQuantizeResult& w = r.written;
  const double bpw = w.n_elements ? 8.0 * double(w.bytes_out) / double(w.n_elements) : 0.0;
  if (args.has("json")) {
    nlohmann::json units = nlohmann::json::array();
    for (size_t u = 0; u < r.units.size(); ++u) {
      const AllocationUnit& unit = r.units[u];
      nlohmann::json cands = nlohmann::json::array();
      for (const auto& c : unit.candidates) {
        nlohmann::json types = nlohmann::json::array();
        for (FormatId t : c.types) types.push_back(std::string(format_traits(t).name));
        cands.push_back({{"type", std::string(format_traits(c.ladder_type).name)}, {"tensor_types", types},
                         {"bytes", c.bytes}, {"kld", c.kld}});
      }
      units.push_back({{"name", unit.name}, {"tensors", unit.tensors},
                       {"chosen", std::string(format_traits(unit.candidates[size_t(r.choice[u])].ladder_type).name)},
                       {"candidates", cands}});
    }
    print_json({{"command", "quantize"}, {"method", "gguf"}, {"allocation", true}, {"quantlab", QUANTLAB_VERSION},
                {"model", model_path}, {"out", out}, {"params", params},
                {"budget", {{"text", o.budget.text},
                            {"kind", o.budget.kind == AllocationBudget::Kind::Bpw ? "tensor_bytes" : "file_bytes"},
                            {"bytes", r.budget_bytes}, {"min_bytes", r.min_bytes}, {"max_bytes", r.max_bytes},
                            {"used_bytes", r.used_bytes}, {"granule", r.granule}}},
                {"predicted_kld", r.predicted_kld}, {"measure_seconds", r.measure_seconds}, {"reused", r.reused},
                {"text", {{"file", r.text_file}, {"sha256", r.text_sha256}, {"chunks", r.n_chunks}, {"ctx", r.n_ctx}}},
                {"bpw", bpw}, {"bytes_out", w.bytes_out}, {"file_size", w.file_size}, {"n_elements", w.n_elements},
                {"units", units}, {"seconds", w.seconds}});
  } else {
    std::printf("%s -> %s: %s, %.3f bpw, %.2f MiB (%llu bytes), %zu units (%s), predicted sum of unit KLDs %.5f, measured in %.1f s%s\n",
                model_path.c_str(), out.c_str(), o.budget.text.c_str(), bpw, double(w.file_size) / 1048576.0,
                static_cast<unsigned long long>(w.file_size), r.units.size(), allocation_unit_name(o.unit), r.predicted_kld,
                r.measure_seconds, r.reused ? " (reused)" : "");
  }
  return 0;
}

}  // namespace quantlab::cli
