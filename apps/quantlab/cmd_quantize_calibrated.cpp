// quantlab quantize --method rtn|gptq|awq|nf4|fp4|int8: layer-sequential quantization of a model,
// optional export (GPTQ / AWQ / bitsandbytes folders) and optional KL divergence of the in-memory
// quantized model against saved base log-probs.
#include "command.hpp"
#include "calibration_input.hpp"
#include "device_option.hpp"
#include "gguf_options.hpp"
#include "quantize_calibrated.hpp"

#include "quantlab/core/byte_size.hpp"
#include "quantlab/core/process_memory.hpp"
#include "quantlab/calib/provenance.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/eval/kld.hpp"
#include "quantlab/eval/kl_divergence.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/pipeline/export_gguf.hpp"
#include "quantlab/pipeline/export_hf.hpp"
#include "quantlab/pipeline/quantize_model.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <unistd.h>

namespace quantlab::cli {
namespace {

long long positive(const Args& a, const std::string& name, long long fallback) {
  const long long v = a.get_int(name, fallback);
  if (v < 0) throw Error("--" + name, std::to_string(v), "must not be negative");
  return v;
}

}  // namespace

std::vector<FlagSpec> quantize_calibrated_flags() {
  std::vector<FlagSpec> flags = {{"model", Takes::Value, "source model (GGUF, llama2.c checkpoint, Hugging Face folder); its weights are decoded to f32"},
          {"method", Takes::Value, "rtn, gptq, awq, nf4, fp4 or int8"},
          {"bits", Takes::Value, "integer grid bits: 2, 3, 4 or 8 (default 4)"},
          {"group-size", Takes::Value, "columns per group (0 = per channel; default auto = 128, or the largest below it that every exported linear's loader reads)"},
          {"sym", Takes::Nothing, "symmetric grid (rtn/gptq)"},
          {"act-order", Takes::Nothing, "GPTQ: columns by decreasing Hessian diagonal"},
          {"static-groups", Takes::Nothing, "GPTQ with --act-order: group parameters fitted before the updates"},
          {"damp", Takes::Value, "GPTQ dampening relative to the mean diagonal (default 0.01)"},
          {"block-size", Takes::Value, "GPTQ lazy block width (default 128); NF4/FP4 block (default 64)"},
          {"double-quant", Takes::Nothing, "NF4/FP4: double-quantize the absmax constants"},
          {"out", Takes::Value, "output folder: GPTQ (rtn, gptq), AWQ GEMM (awq) or bitsandbytes (nf4, fp4, int8)"},
          {"export-format", Takes::Value, "native (default: the layouts of --out) or compressed-tensors (pack-quantized, rtn/gptq/awq at 4 or 8 bits)"},
          {"kld-base", Takes::Value, "base log-probs (eval kld --save-base): report KLD/PPL of the quantized model"},
          {"kld-chunks", Takes::Value, "chunks of --kld-base to score (default: all)"},
          {"threads", Takes::Value, "worker threads (default: all cores)"},
          device_flag(),
          {"micro-batch", Takes::Value, "calibration tokens run through a layer at once (default 512; 0 = all); results do not depend on it"},
          {"in-memory", Takes::Nothing, "keep the whole quantized model in memory, export at the end (default: stream each layer to --out)"},
          {"max-host-memory", Takes::Value, "refuse before any work a run whose memory plan needs more host memory than SIZE (e.g. 64GiB), saying what fits"},
          {"max-gpu-memory", Takes::Value, "the same for the GPU's memory (the device's free memory is always a limit)"},
          calibration_matmul_flag(),
          {"profile", Takes::Nothing, "report the seconds of each phase (forward passes, Hessians, GPTQ's factor and sweep, ...); on a GPU each phase waits for the device"},
          {"calib", Takes::Value, "calibration dataset (gptq, awq)"},
          {"tokenizer", Takes::Value, "tokenizer file (default: the model's own, for GGUF)"}};
  for (auto& f : calibration_flags()) flags.push_back(std::move(f));
  return flags;
}

int run_quantize_calibrated(const Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string model_path = a.require("model");
  pipeline::QuantizeOptions o;
  o.method = pipeline::parse_method(a.require("method"));
  o.grid.bits = int(a.get_int("bits", 4));
  if (o.grid.bits != 2 && o.grid.bits != 3 && o.grid.bits != 4 && o.grid.bits != 8)
    throw Error("--bits", std::to_string(o.grid.bits), "expected 2, 3, 4 or 8");
  // Left out, the group is "auto": 128 where every linear's inputs divide by it, else the largest
  // size below that does (a user naming 128 explicitly is told why it cannot be exported instead).
  const bool auto_group = !a.has("group-size") || a.get("group-size") == std::optional<std::string>("auto");
  o.grid.group_size = auto_group ? 128 : positive(a, "group-size", 128);
  o.grid.symmetric = a.has("sym");
  o.gptq.act_order = a.has("act-order");
  o.gptq.static_groups = a.has("static-groups");
  o.gptq.damp_percent = a.get_double("damp", 0.01);
  o.profile = a.has("profile");
  o.tf32_calibration = calibration_tf32(a);
  if (!(o.gptq.damp_percent > 0 && o.gptq.damp_percent < 1)) throw Error("--damp", "", "must be in (0, 1)");
  if (o.method == pipeline::Method::Nf4 || o.method == pipeline::Method::Fp4) {
    o.bnb4.block_size = positive(a, "block-size", 64);
    o.bnb4.double_quant = a.has("double-quant");
  } else {
    o.gptq.block_size = positive(a, "block-size", 128);
    if (o.gptq.block_size == 0) throw Error("--block-size", "0", "must be at least 1");
  }
  const bool json = a.has("json");
  const bool tty = !json && ::isatty(2);

  // --type names a GGUF type or llama.cpp mix: GPTQ rounds each linear onto the block format the
  // mix gives it and the result is a GGUF file (everything else quantized as llama-quantize does).
  const bool to_gguf = a.has("type");
  std::unique_ptr<GgufSourceFile> gguf_source;  // the GGUF the mix is planned on and the other tensors come from
  GgufQuantizeOptions gopt;
  Imatrix imatrix;
  nlohmann::json gparams;
  if (to_gguf) {
    if (o.method != pipeline::Method::Gptq)
      throw Error("--type", a.require("type"), "GGUF types are a target of --method gptq (or --method gguf)");
    for (const char* flag : {"bits", "group-size", "sym", "static-groups"})
      if (a.has(flag)) throw Error(std::string("--") + flag, "", "does not apply to GGUF block types (--type)");
    gparams = gguf_options_from_args(a, gopt, imatrix);
    const std::string out_path = a.require("out");
    if (std::filesystem::exists(out_path) && std::filesystem::equivalent(out_path, model_path))
      throw Error(out_path, "", "output would overwrite the input");
    gguf_source = std::make_unique<GgufSourceFile>(a, model_path, out_path);
    const GgufFile source(gguf_source->path());
    const std::vector<GgufTensorPlan> plan = plan_gguf_quantization(source, gopt);
    check_requantize(a, model_path, plan);
    for (const GgufTensorPlan& p : plan) o.gguf_types[p.name] = p.to;
  }

  // 512 tokens: the intermediates of a micro-batch (q/k/v, attention, gate/up) stay small next to
  // the layer (bench model: ~10 MiB) while each weight matrix is still reused by 512 tokens.
  o.micro_batch_tokens = positive(a, "micro-batch", 512);
  o.device = device_option(a);
  if (auto v = a.get("max-host-memory")) o.max_host_bytes = parse_byte_size(*v, "--max-host-memory");
  if (auto v = a.get("max-gpu-memory")) o.max_device_bytes = parse_byte_size(*v, "--max-gpu-memory");
  const int n_threads = int(a.get_int("threads", 0));
  ThreadPool pool(n_threads > 0 ? n_threads : int(std::max(1u, std::thread::hardware_concurrency())));
  // GGUF targets quantize the GGUF that supplies the file's other tensors, so names and bytes agree.
  const Model model = load_model(to_gguf ? gguf_source->path() : model_path);
  if (!to_gguf && !a.has("allow-requantize")) {
    // The same rule as for GGUF targets: weights that are already rounded are not rounded again silently.
    std::map<std::string, int64_t> quantized;
    for (const LayerWeights& l : model.layers)
      for (const WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down})
        if (!w->empty() && format_traits(w->format).is_quantized) ++quantized[std::string(format_traits(w->format).name)];
    if (!quantized.empty())
      refuse_requantize(model_path, quantized, "linear weights", "quantize the original, or pass --allow-requantize");
  }
  if (auto_group) o.grid.group_size = pipeline::auto_group_size(model.config, 128);
  const pipeline::HfExportFormat export_format = pipeline::parse_export_format(a.get("export-format").value_or("native"));
  if (a.has("out") && !to_gguf) {  // refused before anything is quantized, streamed or not
    pipeline::ExportInfo probe;
    probe.options = o;
    probe.format = export_format;
    pipeline::check_exportable(model.config, probe);
  }

  // Calibration set (read and packed before anything is quantized or written).
  std::vector<std::vector<int32_t>> samples;
  calib::Provenance prov;
  if (pipeline::method_needs_calibration(o.method)) {
    CalibrationInput in = load_calibration_input(a, model_path);
    samples = std::move(in.sequences);
    prov = std::move(in.provenance);
  }
  prov.tool_version = QUANTLAB_VERSION;
  int64_t calibration_tokens = 0;
  for (const auto& smp : samples) calibration_tokens += int64_t(smp.size());

  const auto progress = [&](int done, int total, double seconds) {
    if (!tty) return;
    const double eta = seconds / done * (total - done);
    // Calibration tokens through one layer per second: comparable across models of any depth.
    char rate[48] = "";
    if (calibration_tokens > 0 && seconds > 0)
      std::snprintf(rate, sizeof rate, "  %.0f tokens/s", double(calibration_tokens) * done / seconds);
    std::fprintf(stderr, "\rlayer %d/%d%s  %.0f s elapsed, ETA %.0f s   ", done, total, rate, seconds, eta);
    if (done == total) std::fprintf(stderr, "\n");
  };

  // Streamed (default): each finished layer is written to --out and freed; the whole quantized
  // model is kept only where something needs it after quantization (--kld-base evaluates it) or
  // where the export's layout depends on the weights (NF4/FP4 --double-quant).
  const std::optional<std::string> out_arg = a.get("out");
  const bool evaluate = a.has("kld-base");
  const bool streamable = to_gguf || pipeline::HfExportWriter::streamable(o);
  o.keep_model = evaluate || a.has("in-memory") || (out_arg && !streamable);
  const bool stream = out_arg && !o.keep_model;

  pipeline::ExportInfo info;
  if (out_arg && !to_gguf) {
    info.source_path = model_path;
    info.source_sha256 = sha256_file(model_path);
    info.calibration = prov;
    info.options = o;
    info.format = export_format;
  }
  if (to_gguf) {
    gparams["gptq"] = {{"damp", o.gptq.damp_percent}, {"block_size", o.gptq.block_size}, {"act_order", o.gptq.act_order},
                       {"importance", "hessian-diagonal"}};
    gopt.params_json = gparams.dump();
    gopt.method = "gptq";
    auto str = [](const std::string& v) { return GgufValue::str(v); };
    gopt.extra_metadata = {
        {"quantlab.calibration.file", str(prov.dataset_name)},
        {"quantlab.calibration.sha256", str(prov.dataset_sha256)},
        {"quantlab.calibration.format", str(prov.dataset_format)},
        {"quantlab.calibration.samples_in_file", GgufValue::u64(prov.samples_in_file)},
        {"quantlab.calibration.samples", GgufValue::u64(prov.samples_used)},
        {"quantlab.calibration.tokens", GgufValue::u64(uint64_t(calibration_tokens))},
        {"quantlab.calibration.packing", str(prov.packing)},
        {"quantlab.calibration.seq_len", GgufValue::u64(prov.seq_len)},
        {"quantlab.calibration.seed", GgufValue::u64(prov.seed)},
        {"quantlab.calibration.template", str(prov.template_kind)},
        {"quantlab.calibration.template_name", str(prov.template_name)},
        {"quantlab.calibration.template_sha256", str(prov.template_sha256)},
    };
  }
  std::unique_ptr<pipeline::GgufExportWriter> gguf_out;
  std::unique_ptr<pipeline::HfExportWriter> hf_out;
  pipeline::LayerSink* sink = nullptr;
  if (stream && to_gguf) {
    gguf_out = std::make_unique<pipeline::GgufExportWriter>(gguf_source->path(), *out_arg, gopt);
    sink = gguf_out.get();
  } else if (stream) {
    hf_out = std::make_unique<pipeline::HfExportWriter>(model, info, *out_arg);
    sink = hf_out.get();
  }

  o.host_resident_bytes = resident_bytes();
  pipeline::QuantizeResult q = pipeline::quantize_model(model, samples, o, pool, progress, sink);
  const double quant_peak = peak_resident_bytes() / kMiB;

  nlohmann::ordered_json out;
  out["command"] = "quantize";
  out["model"] = model_path;
  out["method"] = pipeline::method_name(o.method);
  if (to_gguf) {
    out["type"] = gopt.target.name;
  } else {
    out["bits"] = o.grid.bits;
    out["group_size"] = o.grid.group_size;
    if (out_arg) out["export_format"] = pipeline::export_format_name(export_format);
  }
  out["calibration_samples"] = samples.size();
  out["calibration_tokens"] = q.calibration_tokens;
  out["quantize_seconds"] = q.seconds;
  nlohmann::ordered_json layer_seconds = nlohmann::ordered_json::array();
  for (const pipeline::LayerStats& l : q.layers) layer_seconds.push_back(l.seconds);
  out["layer_seconds"] = layer_seconds;  // each decoder layer's; the rest of quantize_seconds is set-up
  out["peak_rss_mib_after_quantize"] = quant_peak;
  out["bits_per_weight"] = pipeline::quantized_bits_per_weight(q);
  out["streamed"] = stream;
  out["micro_batch_tokens"] = o.micro_batch_tokens;
  out["device"] = o.device.name();
  if (!o.device.is_cpu()) out["calibration_matmul"] = o.tf32_calibration ? "tf32" : "f32";

  if (to_gguf) {
    const std::string out_path = *out_arg;
    GgufQuantizeResult r;
    int64_t n_gptq = 0, n_linears = 0;
    if (gguf_out) {
      r = gguf_out->finish();
      n_gptq = gguf_out->linears_gptq();
      n_linears = gguf_out->linears();
    } else {
      std::map<std::string, std::pair<FormatId, std::vector<uint8_t>>> encoded;
      for (pipeline::QuantizedTensor& t : q.tensors) {
        n_gptq += t.gguf_gptq;
        encoded[t.name] = {t.gguf->type, std::move(t.gguf->bytes)};
      }
      n_linears = int64_t(q.tensors.size());
      gopt.precomputed = &encoded;
      r = gguf_quantize(gguf_source->path(), out_path, gopt);
    }
    std::map<std::string, int> type_counts;
    for (const auto& t : r.tensors) ++type_counts[std::string(format_traits(t.to).name)];
    out["out"] = out_path;
    out["bpw"] = r.n_elements ? 8.0 * double(r.bytes_out) / double(r.n_elements) : 0.0;
    out["file_size"] = r.file_size;
    out["types"] = type_counts;
    out["linears_gptq"] = n_gptq;
    out["linears_encoder_only"] = n_linears - n_gptq;
  } else if (out_arg) {
    if (hf_out) hf_out->finish(q);
    else pipeline::export_quantized(q, info, *out_arg);
    out["out"] = *out_arg;
  }

  if (auto base_path = a.get("kld-base")) {
    const BaseLogitsFile base(*base_path);
    PerplexityOptions po;
    po.n_ctx = base.n_ctx();
    po.n_chunks = a.get_int("kld-chunks", -1);
    po.add_bos = q.model.config.add_bos;
    po.bos_id = q.model.config.bos_id;
    Session session(q.model, pool, po.n_ctx, o.device);
    const KldSummary s = kl_divergence(session, base, po, [&](int64_t i, int64_t n) {
      if (tty) std::fprintf(stderr, "\rchunk %lld/%lld", static_cast<long long>(i + 1), static_cast<long long>(n));
    });
    if (tty) std::fprintf(stderr, "\n");
    out["kld"] = {{"base", *base_path}, {"n_ctx", po.n_ctx}, {"n_tokens_scored", s.count}, {"kld_mean", s.kld_mean},
                  {"kld_stderr", s.kld_err}, {"ppl", s.ppl}, {"ppl_stderr", s.ppl_err}, {"ppl_base", s.ppl_base},
                  {"same_top", s.same_top}};
  }
  out["peak_rss_mib"] = peak_resident_bytes() / kMiB;
  // The plan beside what was measured: the host plan includes the resident set at the start, so
  // peak_rss_mib_after_quantize is to be read against plan_host_mib; the GPU's against plan_gpu_mib.
  const auto parts = [](const std::vector<pipeline::MemoryPart>& ps) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const pipeline::MemoryPart& p : ps) j.push_back({{"part", p.name}, {"mib", p.bytes / kMiB}});
    return j;
  };
  nlohmann::ordered_json mem;
  mem["plan_host_mib"] = q.memory_plan.host_bytes() / kMiB;
  mem["peak_rss_mib_during_quantize"] = quant_peak;
  mem["host"] = parts(q.memory_plan.host);
  if (!q.memory_plan.device.empty()) {
    mem["plan_gpu_mib"] = q.memory_plan.device_bytes() / kMiB;
    mem["peak_gpu_mib"] = double(q.device_memory.peak) / kMiB;
    mem["gpu_total_mib"] = double(q.device_memory.total) / kMiB;
    mem["gpu"] = parts(q.memory_plan.device);
  }
  mem["kept_in_memory"] = o.keep_model;
  out["memory"] = mem;
  if (o.profile) {
    nlohmann::ordered_json phases = nlohmann::ordered_json::array();
    for (const PhaseTimes::Phase& p : q.phases) phases.push_back({{"phase", p.name}, {"seconds", p.seconds}, {"count", p.count}});
    out["profile"] = phases;
  }
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out["threads"] = pool.size();
  if (json) {
    print_json(out);
  } else {
    std::printf("%s\n", out.dump(2).c_str());
  }
  return 0;
}

// Registered as methods of `quantize` in cmd_quantize.cpp.

}  // namespace quantlab::cli
