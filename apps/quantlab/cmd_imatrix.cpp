// quantlab imatrix: importance matrix as llama.cpp's llama-imatrix collects it.
#include "calibration_input.hpp"
#include "command.hpp"
#include "device_option.hpp"
#include "eval_input.hpp"
#include "progress_line.hpp"

#include "quantlab/core/sha256.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/quant/imatrix_collect.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace quantlab::cli {
namespace {

int run_imatrix(const Args& args) {
  const std::string model_path = args.require("model");
  const std::string out = args.get_or("out", "imatrix.gguf");
  const Model model = load_model(model_path);
  ImatrixOptions o;
  o.n_ctx = args.get_int("ctx", 512);
  if (o.n_ctx < 4 || o.n_ctx > (1 << 20)) throw Error("--ctx", std::to_string(o.n_ctx), "must be between 4 and 1048576");
  o.n_chunks = args.get_int("chunks", -1);
  o.process_output = args.has("process-output");
  o.threads = thread_count(args);
  o.device = device_option(args);
  o.tf32 = calibration_tf32(args);
  o.add_bos = model.config.add_bos;
  o.bos_id = model.config.bos_id;
  const auto t0 = std::chrono::steady_clock::now();
  Imatrix m;
  nlohmann::ordered_json input_json;
  if (args.has("calib")) {
    // A calibration set (any packing; per-sample by default): the same tokens GPTQ/AWQ would see.
    if (args.has("file") || args.has("ids")) throw Error("--calib", "", "cannot be combined with --file/--ids");
    if (args.has("ctx")) throw Error("--ctx", "", "not with --calib: --seq-len sets the sequence length");
    const CalibrationInput in = load_calibration_input(args, model_path);
    ProgressLine progress("imatrix sample");
    m = collect_imatrix(model, in.sequences, o, [&](int64_t done, int64_t total) { progress.update(done - 1, total); });
    progress.finish();
    m.datasets = {in.provenance.dataset_path};
    m.dataset_sha256 = in.provenance.dataset_sha256;
    calib::Provenance prov = in.provenance;
    prov.tool_version = QUANTLAB_VERSION;
    m.calibration = prov.to_json().dump();
    input_json = prov.to_json();
    input_json["n_sequences"] = in.sequences.size();
    input_json["n_tokens"] = in.stats.tokens;
  } else {
    // llama-imatrix's way: the text's tokens cut into --ctx chunks, BOS forced first.
    check_context_length(args, model, o.n_ctx, args.has("ctx") ? "--ctx" : "--ctx (default)");
    const EvalInput input = load_eval_input(args, model_path);
    ProgressLine progress("imatrix chunk");
    m = collect_imatrix(model, input.tokens, o, [&](int64_t done, int64_t total) { progress.update(done - 1, total); });
    progress.finish();
    m.datasets = {input.path};
    m.dataset_sha256 = sha256_file(input.path);
    input_json = {{"path", input.path}, {"sha256", m.dataset_sha256}, {"n_tokens", input.tokens.size()}};
  }
  write_imatrix(m, out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (args.has("json")) {
    // --ctx cuts a text into chunks; a calibration set's sequence length is its packing's (in "input").
    print_json({{"command", "imatrix"}, {"model", model_path}, {"out", out},
                {"input", input_json},
                {"n_ctx", args.has("calib") ? nlohmann::json() : nlohmann::json(o.n_ctx)}, {"chunks", m.chunk_count},
                {"entries", m.entries.size()}, {"seconds", seconds}});
  } else {
    std::printf("%s: %zu entries from %lld %s, %.1f s\n", out.c_str(), m.entries.size(),
                static_cast<long long>(m.chunk_count), args.has("calib") ? "calibration sequences" : "chunks", seconds);
  }
  return 0;
}

QUANTLAB_COMMAND(Command{"imatrix",
                         "importance matrix (sum of x^2 per input column of every linear), llama.cpp-compatible",
                         [] {
                           std::vector<FlagSpec> flags = {
                          {"model", Takes::Value, "model: GGUF, llama2.c .bin, Hugging Face folder or a quantize --out folder"},
                          {"file", Takes::Value, "calibration text"},
                          {"ids", Takes::Value, "file of token ids instead of text (as eval ppl --ids)"},
                          {"tokenizer", Takes::Value, "tokenizer file (default: the model's own)"},
                          {"ctx", Takes::Value, "tokens per chunk (default 512)"},
                          {"chunks", Takes::Value, "chunks to process (default: all)"},
                          {"out", Takes::Value, "output: .gguf (llama.cpp's format, default imatrix.gguf) or .dat (legacy)", "o"},
                          {"process-output", Takes::Nothing, "also collect output.weight"},
                          {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag(),
                          calibration_matmul_flag(),
                          {"calib", Takes::Value, "calibration dataset instead of --file: packed as quantize packs it"},
                          allow_long_context_flag()};
                           for (auto& f : calibration_flags()) flags.push_back(std::move(f));
                           return flags;
                         }(),
                         run_imatrix});

}  // namespace
}  // namespace quantlab::cli
