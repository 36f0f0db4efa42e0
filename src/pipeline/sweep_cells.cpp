// One sweep cell: the library calls of quantize / imatrix / eval ppl|kld|mc, driven by the recipe.
#include "quantlab/pipeline/sweep_cells.hpp"

#include "quantlab/calib/calibration_set.hpp"
#include "quantlab/calib/model_template.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/kl_divergence.hpp"
#include "quantlab/eval/multiple_choice.hpp"
#include "quantlab/eval/perplexity.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/llama2c.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/pipeline/export_gguf.hpp"
#include "quantlab/pipeline/export_hf.hpp"
#include "quantlab/pipeline/quantize_model.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "quantlab/quant/imatrix_collect.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>

namespace quantlab::pipeline {
namespace fs = std::filesystem;

namespace {

using ojson = nlohmann::ordered_json;

// Paths inside the run directory are recorded relative to it, so a moved run stays readable.
std::string run_relative(const SweepPlan& plan, const std::string& path) {
  const fs::path rel = fs::path(path).lexically_relative(plan.run_dir);
  return !rel.empty() && *rel.begin() != ".." ? rel.string() : path;
}

ojson record(const SweepPlan& plan, const std::string& path) {
  ojson j = file_record(path);
  j["path"] = run_relative(plan, path);
  return j;
}

// Tensor elements of a GGUF: the parameter count bits per weight are taken over, the same for every
// file made from it (GGUF, GPTQ/AWQ/bitsandbytes folders alike).
uint64_t gguf_elements(const std::string& path) {
  uint64_t n = 0;
  const GgufFile f(path);
  for (const GgufTensorInfo& t : f.tensors()) n += uint64_t(t.n_elements());
  return n;
}

ojson size_figures(const std::string& file, uint64_t base_elements) {
  const ojson r = file_record(file);
  const double size = r["size"].get<double>();
  return {{"file_size", r["size"]}, {"bits_per_weight", base_elements ? 8.0 * size / double(base_elements) : 0.0}};
}

// A calibration set as `quantize --calib` reads it: the base's tokenizer and chat template, samples
// selected at random (seeded).
struct Calibration {
  std::vector<std::vector<int32_t>> sequences;
  calib::Provenance provenance;
};

Calibration load_calibration(const RecipeCalibration& c, const std::string& base, const Tokenizer& tok) {
  calib::CalibrationOptions o;
  o.dataset.shape = calib::parse_shape(c.format);
  for (const auto& f : c.fields) calib::set_mapping_field(o.dataset.mapping, f);
  const std::optional<text::ChatTemplate> tmpl = calib::load_model_chat_template(base);
  o.format.chat_template = tmpl ? &*tmpl : nullptr;
  if (!c.text_template.empty()) {
    o.format.mode = calib::FormatMode::TextTemplate;
    o.format.text_template = c.text_template;
  } else if (c.raw) {
    o.format.mode = calib::FormatMode::Raw;
  }
  calib::PackingOptions& p = o.packing;
  p.mode = calib::parse_packing(c.packing);
  p.overflow = calib::parse_overflow(c.overflow);
  p.seq_len = size_t(c.seq_len);
  p.select.num_samples = size_t(c.samples);
  p.select.seed = uint64_t(c.seed);
  p.select.min_tokens = size_t(c.min_tokens);
  p.select.max_tokens = size_t(c.max_tokens);
  p.select.stratify = c.stratify;
  p.select.language_order = c.languages;
  p.select.shuffle = true;  // as quantize: a seeded random subset, not the file's first samples
  calib::CalibrationSet set = calib::build_calibration_set(c.path, o, calib::tokenizer_fn(tok));
  Calibration out;
  for (auto& s : set.sequences) out.sequences.push_back(std::move(s.tokens));
  out.provenance = std::move(set.provenance);
  out.provenance.tool_version = QUANTLAB_VERSION;
  return out;
}

ojson calibration_json(const Calibration& c) {
  int64_t tokens = 0;
  for (const auto& s : c.sequences) tokens += int64_t(s.size());
  ojson j = c.provenance.to_json();
  j["sequences"] = c.sequences.size();
  j["tokens"] = tokens;
  return j;
}

std::vector<int32_t> text_tokens(const std::string& path, const Tokenizer& tok) {
  const MappedFile text(path);
  return tok.encode({reinterpret_cast<const char*>(text.data()), text.size()}, true, false);
}

GgufQuantizeOptions gguf_options(const RecipeQuantize& q, int threads) {
  GgufQuantizeOptions o;
  o.target = parse_gguf_target(q.type);
  o.pure = q.pure;
  o.threads = threads;
  for (const std::string& spec : q.tensor_type) {
    const size_t eq = spec.find('=');
    std::string pattern = spec.substr(0, eq);  // lower-cased, as llama-quantize does
    for (char& ch : pattern) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    o.tensor_type_overrides.emplace_back(pattern, find_format(spec.substr(eq + 1))->id);
  }
  if (!q.output_tensor_type.empty()) o.output_tensor_type = find_format(q.output_tensor_type)->id;
  if (!q.token_embedding_type.empty()) o.token_embedding_type = find_format(q.token_embedding_type)->id;
  o.params_json = q.settings().dump();
  return o;
}

ojson gguf_result_figures(const GgufQuantizeResult& r) {
  std::map<std::string, int> types;
  for (const auto& t : r.tensors) ++types[std::string(format_traits(t.to).name)];
  return {{"tensor_bpw", r.n_elements ? 8.0 * double(r.bytes_out) / double(r.n_elements) : 0.0},
          {"n_fallback", r.n_fallback},
          {"types", types}};
}

class CellRunner {
 public:
  CellRunner(const Recipe& r, const SweepPlan& p, size_t i, int threads)
      : r_(r), p_(p), c_(p.cells[i]), threads_(std::max(1, threads)) {}

  ojson run() {
    switch (c_.kind) {
      case CellKind::Base: return base();
      case CellKind::Imatrix: return imatrix();
      case CellKind::Quantize: return quantize();
      case CellKind::BaseLogits: return base_logits();
      case CellKind::Ppl: return ppl();
      case CellKind::Kld: return kld();
      case CellKind::Mc: return mc();
    }
    throw Error(c_.id, "", "unknown cell kind");
  }

 private:
  const SweepCell& cell(size_t i) const { return p_.cells[i]; }
  // The GGUF the model's configurations start from, and whose vocabulary every evaluation uses.
  const std::string& base_file() const {
    const SweepCell* b = &c_;
    while (b->kind != CellKind::Base) b = &cell(b->input);
    return b->file;
  }

  ojson base() {
    const RecipeModel& m = r_.models[c_.model];
    ojson inputs{{"source", file_record(m.path)}};
    if (m.llama2c) {
      inputs["tokenizer"] = file_record(m.tokenizer);
      const Llama2cCheckpoint ck(m.path);
      llama2c_to_gguf(ck, read_llama2c_tokenizer(m.tokenizer, ck.config().vocab_size)).write(c_.file);  // atomic
    } else if (!m.dequantize.empty()) {
      GgufQuantizeOptions o;
      o.target = parse_gguf_target(m.dequantize);
      o.threads = threads_;
      o.params_json = ojson{{"dequantize", m.dequantize}}.dump();
      gguf_quantize(m.path, c_.file, o);  // atomic
    }
    ojson figures = size_figures(c_.file, gguf_elements(c_.file));
    figures["parameters"] = gguf_elements(c_.file);
    return {{"inputs", inputs}, {"output", record(p_, c_.file)}, {"figures", figures}};
  }

  ojson imatrix() {
    const RecipeCalibration& cs = r_.calibration[size_t(c_.calibration)];
    const std::string& base = base_file();
    const Tokenizer tok = Tokenizer::load(base);
    const Calibration cal = load_calibration(cs, base, tok);
    const Model model = load_model(base);
    ImatrixOptions o;
    o.threads = threads_;
    o.add_bos = model.config.add_bos;
    o.bos_id = model.config.bos_id;
    Imatrix m = collect_imatrix(model, cal.sequences, o);
    m.datasets = {cal.provenance.dataset_path};
    m.dataset_sha256 = cal.provenance.dataset_sha256;
    m.calibration = cal.provenance.to_json().dump();
    write_imatrix_gguf(m, c_.file);  // atomic
    return {{"inputs", {{"base", record(p_, base)}, {"calibration", calibration_json(cal)}}},
            {"output", record(p_, c_.file)},
            {"figures", {{"entries", m.entries.size()}, {"chunk_count", m.chunk_count}}}};
  }

  ojson quantize() {
    const RecipeQuantize& q = r_.quantize[size_t(c_.quantize)];
    const std::string& base = base_file();
    ojson inputs{{"base", record(p_, base)}};
    ojson figures;
    if (q.method == "gguf") {
      GgufQuantizeOptions o = gguf_options(q, threads_);
      Imatrix im;
      if (c_.imatrix != SweepCell::npos) {
        im = read_imatrix(cell(c_.imatrix).file);
        o.imatrix = &im;
        o.imatrix_path = cell(c_.imatrix).file;  // gguf_quantize reads it again for its provenance
        inputs["imatrix"] = record(p_, cell(c_.imatrix).file);
      }
      figures = gguf_result_figures(gguf_quantize(base, c_.file, o));  // atomic
    } else {
      figures = layer_sequential(q, base, inputs);
    }
    ojson sizes = size_figures(c_.file, gguf_elements(base));
    sizes.update(figures);
    return {{"inputs", inputs}, {"output", record(p_, c_.file)}, {"figures", sizes}};
  }

  // rtn/gptq/awq/nf4/fp4/int8 as `quantize --method M` runs them (streamed where the export allows),
  // and gptq onto a GGUF type.
  ojson layer_sequential(const RecipeQuantize& q, const std::string& base, ojson& inputs) {
    QuantizeOptions o;
    o.method = parse_method(q.method);
    o.grid.bits = q.bits;
    o.grid.symmetric = q.sym;
    o.gptq.act_order = q.act_order;
    o.gptq.static_groups = q.static_groups;
    o.gptq.damp_percent = q.damp;
    if (o.method == Method::Nf4 || o.method == Method::Fp4) {
      o.bnb4.block_size = q.block_size.value_or(64);
      o.bnb4.double_quant = q.double_quant;
    } else {
      o.gptq.block_size = q.block_size.value_or(128);
    }
    o.micro_batch_tokens = 512;  // as quantize's default; results do not depend on it
    ThreadPool pool(threads_);
    const Tokenizer tok = Tokenizer::load(base);
    Calibration cal;
    if (method_needs_calibration(o.method)) {
      cal = load_calibration(*r_.find_calibration(q.calib), base, tok);
      inputs["calibration"] = calibration_json(cal);
    }
    ojson figures;
    if (!q.type.empty()) {
      GgufQuantizeOptions g = gguf_options(q, threads_);
      g.method = "gptq";
      const GgufFile source(base);
      for (const GgufTensorPlan& t : plan_gguf_quantization(source, g)) o.gguf_types[t.name] = t.to;
      auto str = [](const std::string& v) { return GgufValue::str(v); };
      g.extra_metadata = {{"quantlab.calibration.file", str(cal.provenance.dataset_name)},
                          {"quantlab.calibration.sha256", str(cal.provenance.dataset_sha256)},
                          {"quantlab.calibration.samples", GgufValue::u64(cal.provenance.samples_used)},
                          {"quantlab.calibration.seq_len", GgufValue::u64(cal.provenance.seq_len)},
                          {"quantlab.calibration.seed", GgufValue::u64(cal.provenance.seed)}};
      const Model model = load_model(base);
      o.keep_model = false;
      GgufExportWriter sink(base, c_.file, g);
      QuantizeResult r = quantize_model(model, cal.sequences, o, pool, {}, &sink);
      figures = gguf_result_figures(sink.finish());  // atomic
      figures["linears_gptq"] = sink.linears_gptq();
      figures["calibration_tokens"] = r.calibration_tokens;
      return figures;
    }
    const Model model = load_model(base);
    o.grid.group_size = q.group_size ? *q.group_size : auto_group_size(model.config, 128);
    ExportInfo info;
    info.source_path = base;
    info.source_sha256 = sha256_file(base);
    info.calibration = cal.provenance;
    info.options = o;
    info.format = parse_export_format(q.export_format);
    check_exportable(model.config, info);
    // Streamed (each layer written and freed) unless the export's layout needs the whole model.
    o.keep_model = !HfExportWriter::streamable(o);
    info.options = o;
    QuantizeResult r;
    if (o.keep_model) {
      r = quantize_model(model, cal.sequences, o, pool);
      export_quantized(r, info, c_.file);  // written beside and renamed into place
    } else {
      HfExportWriter sink(model, info, c_.file);
      r = quantize_model(model, cal.sequences, o, pool, {}, &sink);
      sink.finish(r);
    }
    figures["linear_bpw"] = quantized_bits_per_weight(r);
    figures["group_size"] = o.grid.group_size;
    figures["calibration_tokens"] = r.calibration_tokens;
    return figures;
  }

  PerplexityOptions ppl_options(const RecipeEvaluation& ev, const Model& model) const {
    PerplexityOptions o;
    o.n_ctx = ev.ctx;
    o.n_chunks = ev.chunks;
    o.add_bos = model.config.add_bos;
    o.bos_id = model.config.bos_id;
    if (model.config.n_ctx_train > 0 && ev.ctx > model.config.n_ctx_train)
      throw Error(r_.path, "evaluations[" + std::to_string(c_.evaluation) + "]." + ev.kind + ".ctx",
                  "longer than the context " + model.source + " was trained on (" + std::to_string(model.config.n_ctx_train) + ")");
    return o;
  }

  ojson base_logits() {
    const RecipeEvaluation& ev = r_.evaluations[size_t(c_.evaluation)];
    const std::string& base = base_file();
    const Model model = load_model(base);
    const std::vector<int32_t> tokens = text_tokens(ev.path, Tokenizer::load(base));
    const PerplexityOptions o = ppl_options(ev, model);
    ThreadPool pool(threads_);
    Session session(model, pool, o.n_ctx);
    save_base_logits(session, tokens, o, c_.file);  // written to a temporary name, then renamed
    return {{"inputs", {{"base", record(p_, base)}, {"text", file_record(ev.path)}}},
            {"output", record(p_, c_.file)},
            {"figures", {{"n_tokens", tokens.size()}, {"n_chunks", chunk_count(int64_t(tokens.size()), o)}}}};
  }

  ojson ppl() {
    const RecipeEvaluation& ev = r_.evaluations[size_t(c_.evaluation)];
    const std::string& file = cell(c_.input).file;
    const Model model = load_model(file);
    const std::vector<int32_t> tokens = text_tokens(ev.path, Tokenizer::load(base_file()));
    const PerplexityOptions o = ppl_options(ev, model);
    ThreadPool pool(threads_);
    Session session(model, pool, o.n_ctx);
    const PerplexityResult r = perplexity(session, tokens, o);
    return {{"inputs", {{"model", record(p_, file)}, {"text", file_record(ev.path)}}},
            {"figures", {{"ppl", r.ppl}, {"ppl_stderr", r.ppl_stderr}, {"mean_nll", r.mean_nll}, {"nll_stderr", r.nll_stderr},
                         {"n_chunks", r.n_chunks}, {"n_scored", r.n_scored}, {"n_tokens", r.n_tokens}}}};
  }

  ojson kld() {
    const RecipeEvaluation& ev = r_.evaluations[size_t(c_.evaluation)];
    const std::string& file = cell(c_.input).file;
    const std::string& logits = cell(c_.logits).file;
    const Model model = load_model(file);
    const BaseLogitsFile base(logits);
    PerplexityOptions o = ppl_options(ev, model);
    ThreadPool pool(threads_);
    Session session(model, pool, o.n_ctx);
    const KldSummary s = kl_divergence(session, base, o);
    return {{"inputs", {{"model", record(p_, file)}, {"base_logits", record(p_, logits)}, {"text", file_record(ev.path)}}},
            {"figures",
             {{"n_tokens_scored", s.count}, {"kld_mean", s.kld_mean}, {"kld_stderr", s.kld_err},
              {"kld_percentiles", {{"min", s.kld_min}, {"p01", s.kld_p01}, {"p05", s.kld_p05}, {"p10", s.kld_p10},
                                   {"median", s.kld_median}, {"p90", s.kld_p90}, {"p95", s.kld_p95}, {"p99", s.kld_p99},
                                   {"p999", s.kld_p999}, {"max", s.kld_max}}},
              {"same_top", s.same_top}, {"same_top_stderr", s.same_top_err},
              {"dp_mean", s.dp_mean}, {"dp_stderr", s.dp_err}, {"dp_rms", s.dp_rms}, {"dp_rms_stderr", s.dp_rms_err},
              {"ppl", s.ppl}, {"ppl_stderr", s.ppl_err}, {"ppl_base", s.ppl_base}, {"ppl_base_stderr", s.ppl_base_err},
              {"ln_ppl_ratio", s.ln_ppl_ratio}, {"ln_ppl_ratio_stderr", s.ln_ppl_ratio_err}}}};
  }

  ojson mc() {
    const RecipeEvaluation& ev = r_.evaluations[size_t(c_.evaluation)];
    const std::string& file = cell(c_.input).file;
    const Tokenizer tok = Tokenizer::load(base_file());
    std::vector<McQuestion> qs = read_mc_questions(ev.path);
    const size_t available = qs.size();
    if (ev.limit > 0 && size_t(ev.limit) < qs.size()) qs.resize(size_t(ev.limit));
    std::vector<McTokens> toks;
    int64_t longest = 0;
    for (const McQuestion& q : qs) {
      toks.push_back(tokenize_question(tok, q));
      longest = std::max(longest, longest_sequence(toks.back()));
    }
    const Model model = load_model(file);
    ThreadPool pool(threads_);
    Session session(model, pool, longest);
    std::vector<McQuestionScore> scores;
    for (size_t i = 0; i < qs.size(); ++i) scores.push_back(score_question(session, toks[i], qs[i]));
    const bool uncond = std::any_of(qs.begin(), qs.end(), [](const McQuestion& q) { return q.uncond_context.has_value(); });
    ojson acc, answers;
    for (McRule rule : kMcRules) {
      if (rule == McRule::Uncond && !uncond) continue;
      const McAccuracy a = mc_accuracy(scores, rule);
      acc[mc_rule_name(rule)] = {{"acc", a.acc}, {"stderr", a.stderr_}, {"correct", a.correct}, {"n", a.n}};
      // Every question's answer, so a report can pair any two files question by question.
      std::vector<int> per;
      for (const auto& s : scores) per.push_back(s.answer(rule));
      answers[mc_rule_name(rule)] = per;
    }
    // The gold answers beside them, so a paired test (quantlab advise: McNemar's) needs no data file.
    std::vector<int> gold;
    for (const McQuestion& q : qs) gold.push_back(q.gold);
    return {{"inputs", {{"model", record(p_, file)}, {"data", file_record(ev.path)}}},
            {"figures", {{"questions", qs.size()}, {"questions_in_file", available}, {"accuracy", acc}, {"answers", answers},
                         {"gold", gold}}}};
  }

  const Recipe& r_;
  const SweepPlan& p_;
  const SweepCell& c_;
  int threads_;
};

}  // namespace

ojson file_record(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return {{"path", path}, {"size", fs::file_size(path)}, {"sha256", sha256_file(path)}};
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(path))
    if (e.is_regular_file()) names.push_back(fs::relative(e.path(), path).string());
  std::sort(names.begin(), names.end());
  std::string listing;
  uint64_t size = 0;
  for (const auto& n : names) {
    listing += n + " " + sha256_file((fs::path(path) / n).string()) + "\n";
    size += fs::file_size(fs::path(path) / n);
  }
  return {{"path", path}, {"size", size}, {"sha256", sha256_hex(listing.data(), listing.size())}};
}

void remove_partial_outputs(const SweepCell& cell) {
  if (!cell.writes_file || cell.file.empty()) return;
  const fs::path f(cell.file);
  const std::string name = f.filename().string();
  std::error_code ec;
  fs::remove_all(f, ec);
  if (!fs::exists(f.parent_path(), ec)) return;
  for (const auto& e : fs::directory_iterator(f.parent_path(), ec)) {
    const std::string n = e.path().filename().string();
    // AtomicFile: ".NAME.tmp-XXXXXX"; folders: "NAME.partial"; base logits: "NAME.tmp".
    if (n.rfind("." + name + ".tmp", 0) == 0 || n == name + ".partial" || n == name + ".tmp" ||
        n.rfind(name + ".source.gguf.tmp", 0) == 0)
      fs::remove_all(e.path(), ec);
  }
}

ojson run_sweep_cell(const Recipe& recipe, const SweepPlan& plan, size_t index, int threads) {
  return CellRunner(recipe, plan, index, threads).run();
}

}  // namespace quantlab::pipeline
