// From a recipe to its cells, each with the key of what decides it (sweep_plan.hpp).
#include "quantlab/pipeline/sweep_plan.hpp"

#include "quantlab/core/sha256.hpp"

#include <filesystem>
#include <map>

namespace quantlab::pipeline {
namespace fs = std::filesystem;

namespace {

// A file's identity for keys: its hash and size, never its path (moving the data changes nothing).
nlohmann::ordered_json file_identity(const std::string& path, std::map<std::string, nlohmann::ordered_json>& cache) {
  auto it = cache.find(path);
  if (it != cache.end()) return it->second;
  std::error_code ec;
  const nlohmann::ordered_json j{{"sha256", sha256_file(path)}, {"size", fs::file_size(path, ec)}};
  return cache[path] = j;
}

class Planner {
 public:
  Planner(const Recipe& r, std::string run_dir) : r_(r) { plan_.run_dir = std::move(run_dir); }

  SweepPlan make() {
    for (size_t m = 0; m < r_.models.size(); ++m) {
      const size_t base = add_base(m);
      std::map<std::string, size_t> logits;  // kld evaluation name -> base-logits cell
      for (size_t e = 0; e < r_.evaluations.size(); ++e) {
        if (r_.evaluations[e].kind == "kld") logits[r_.evaluations[e].name] = add_logits(m, base, int(e));
        else add_eval(m, base, int(e), SweepCell::npos);
      }
      std::map<std::string, size_t> imatrices;  // calibration name -> imatrix cell
      for (size_t q = 0; q < r_.quantize.size(); ++q) {
        const RecipeQuantize& cfg = r_.quantize[q];
        size_t im = SweepCell::npos;
        if (!cfg.imatrix.empty()) {
          auto it = imatrices.find(cfg.imatrix);
          im = it != imatrices.end() ? it->second : (imatrices[cfg.imatrix] = add_imatrix(m, base, cfg.imatrix));
        }
        const size_t qc = add_quantize(m, base, int(q), im);
        for (size_t e = 0; e < r_.evaluations.size(); ++e)
          add_eval(m, qc, int(e), r_.evaluations[e].kind == "kld" ? logits[r_.evaluations[e].name] : SweepCell::npos);
      }
    }
    return std::move(plan_);
  }

 private:
  size_t push(SweepCell c, const std::string& label, const std::string& extension) {
    c.decides["quantlab"] = QUANTLAB_VERSION;
    c.key = sha256_hex(c.decides.dump().data(), c.decides.dump().size());
    c.id = label + "." + c.key.substr(0, 12);
    if (c.writes_file) c.file = (fs::path(plan_.run_dir) / "files" / (c.id + extension)).string();
    plan_.cells.push_back(std::move(c));
    return plan_.cells.size() - 1;
  }
  const std::string& key(size_t cell) const { return plan_.cells[cell].key; }

  size_t add_base(size_t m) {
    const RecipeModel& model = r_.models[m];
    SweepCell c;
    c.kind = CellKind::Base;
    c.model = m;
    c.decides = {{"kind", "base"}, {"source", file_identity(model.path, hashes_)}};
    if (model.llama2c) {
      c.decides["convert"] = "llama2c";
      c.decides["tokenizer"] = file_identity(model.tokenizer, hashes_);
    }
    if (!model.dequantize.empty()) c.decides["dequantize"] = model.dequantize;
    c.writes_file = model.llama2c || !model.dequantize.empty();
    if (!c.writes_file) c.file = model.path;
    return push(std::move(c), "base." + model.name, ".gguf");
  }

  size_t add_imatrix(size_t m, size_t base, const std::string& calib) {
    SweepCell c;
    c.kind = CellKind::Imatrix;
    c.model = m;
    for (size_t i = 0; i < r_.calibration.size(); ++i)
      if (r_.calibration[i].name == calib) c.calibration = int(i);
    const RecipeCalibration& cs = r_.calibration[size_t(c.calibration)];
    c.input = base;
    c.deps = {base};
    c.decides = {{"kind", "imatrix"}, {"base", key(base)},
                 {"calibration", {{"data", file_identity(cs.path, hashes_)}, {"settings", cs.settings()}}}};
    c.writes_file = true;
    return push(std::move(c), "imatrix." + r_.models[m].name + "." + calib, ".gguf");
  }

  size_t add_quantize(size_t m, size_t base, int q, size_t imatrix) {
    const RecipeQuantize& cfg = r_.quantize[size_t(q)];
    SweepCell c;
    c.kind = CellKind::Quantize;
    c.model = m;
    c.quantize = q;
    c.input = base;
    c.imatrix = imatrix;
    c.deps = {base};
    c.decides = {{"kind", "quantize"}, {"base", key(base)}, {"settings", cfg.settings()}};
    if (!cfg.calib.empty()) {
      const RecipeCalibration& cs = *r_.find_calibration(cfg.calib);
      c.decides["calibration"] = {{"data", file_identity(cs.path, hashes_)}, {"settings", cs.settings()}};
    }
    if (imatrix != SweepCell::npos) {
      c.deps.push_back(imatrix);
      c.decides["imatrix"] = key(imatrix);
    }
    c.writes_file = true;
    const bool gguf = cfg.method == "gguf" || !cfg.type.empty();
    return push(std::move(c), "quantize." + r_.models[m].name + "." + cfg.name, gguf ? ".gguf" : "");
  }

  size_t add_logits(size_t m, size_t base, int e) {
    const RecipeEvaluation& ev = r_.evaluations[size_t(e)];
    SweepCell c;
    c.kind = CellKind::BaseLogits;
    c.model = m;
    c.evaluation = e;
    c.input = base;
    c.deps = {base};
    c.decides = {{"kind", "base-logits"}, {"base", key(base)}, {"text", file_identity(ev.path, hashes_)}, {"settings", ev.settings()}};
    c.writes_file = true;
    return push(std::move(c), "base-logits." + r_.models[m].name + "." + ev.name, ".bin");
  }

  // An evaluation of `input`'s file; the base's own KLD (against itself) is no cell.
  void add_eval(size_t m, size_t input, int e, size_t logits) {
    const RecipeEvaluation& ev = r_.evaluations[size_t(e)];
    const SweepCell& in = plan_.cells[input];
    if (ev.kind == "kld" && in.kind == CellKind::Base) return;
    SweepCell c;
    c.kind = ev.kind == "ppl" ? CellKind::Ppl : ev.kind == "kld" ? CellKind::Kld : CellKind::Mc;
    c.model = m;
    c.evaluation = e;
    c.quantize = in.quantize;
    c.input = input;
    c.deps = {input};
    c.decides = {{"kind", ev.kind}, {"model", key(input)}, {"data", file_identity(ev.path, hashes_)}, {"settings", ev.settings()}};
    // Texts are tokenized with the base's vocabulary, so every file of a model sees the same tokens.
    if (in.kind != CellKind::Base) {
      c.deps.push_back(in.input);
      c.decides["tokenizer"] = key(in.input);
    }
    if (logits != SweepCell::npos) {
      c.logits = logits;
      c.deps.push_back(logits);
      c.decides["base_logits"] = key(logits);
    }
    const std::string of = in.kind == CellKind::Base ? "base" : r_.quantize[size_t(in.quantize)].name;
    push(std::move(c), ev.kind + "." + r_.models[m].name + "." + of + "." + ev.name, "");
  }

  const Recipe& r_;
  SweepPlan plan_;
  std::map<std::string, nlohmann::ordered_json> hashes_;
};

}  // namespace

const char* cell_kind_name(CellKind k) {
  switch (k) {
    case CellKind::Base: return "base";
    case CellKind::Imatrix: return "imatrix";
    case CellKind::Quantize: return "quantize";
    case CellKind::BaseLogits: return "base-logits";
    case CellKind::Ppl: return "ppl";
    case CellKind::Kld: return "kld";
    case CellKind::Mc: return "mc";
  }
  return "?";
}

std::string SweepPlan::cell_path(const SweepCell& c) const { return (fs::path(run_dir) / "cells" / (c.id + ".json")).string(); }

SweepPlan plan_sweep(const Recipe& recipe, const std::string& run_dir) { return Planner(recipe, run_dir).make(); }

}  // namespace quantlab::pipeline
