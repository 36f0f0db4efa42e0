#include "quantlab/report/quality_metric.hpp"

#include "quantlab/core/error.hpp"

#include <filesystem>

namespace quantlab::report {
namespace fs = std::filesystem;

namespace {

std::string evaluation_list(const RunResults& run) {
  std::string s;
  for (const EvaluationRef& e : run.evaluations) s += (s.empty() ? "" : ", ") + e.kind + ":" + e.name;
  return s.empty() ? "none" : s;
}

std::string cell_file(const RunResults& run, const CellStatus& c) { return (fs::path(run.dir) / "cells" / (c.id + ".json")).string(); }

}  // namespace

std::string QualityMetric::figure() const {
  if (evaluation.kind == "kld") return "kld_mean";
  if (evaluation.kind == "ppl") return "ppl";
  return "accuracy." + rule;
}

std::string QualityMetric::label() const {
  if (evaluation.kind == "kld") return "mean KLD (" + evaluation.name + ")";
  if (evaluation.kind == "ppl") return "PPL (" + evaluation.name + ")";
  return "accuracy, " + rule + " (" + evaluation.name + ")";
}

QualityMetric choose_metric(const RunResults& run, const std::string& spec) {
  std::string kind = spec, name, rule;
  if (const size_t colon = spec.find(':'); colon != std::string::npos) {
    kind = spec.substr(0, colon);
    name = spec.substr(colon + 1);
    if (const size_t second = name.find(':'); second != std::string::npos) {
      rule = name.substr(second + 1);
      name = name.substr(0, second);
    }
  }
  if (kind != "" && kind != "kld" && kind != "ppl" && kind != "mc")
    throw Error("--metric", spec, "unknown metric (kld, ppl, mc, KIND:EVALUATION or mc:EVALUATION:RULE; this run has " +
                                      evaluation_list(run) + ")");
  if (!rule.empty() && kind != "mc") throw Error("--metric", spec, "only mc metrics take an answer rule");
  if (!rule.empty() && rule != "sum" && rule != "per-token" && rule != "per-char" && rule != "uncond")
    throw Error("--metric", spec, "unknown answer rule '" + rule + "' (sum, per-token, per-char, uncond)");
  for (const char* k : {"kld", "ppl", "mc"}) {
    if (!kind.empty() && kind != k) continue;
    for (const EvaluationRef& e : run.evaluations)
      if (e.kind == k && (name.empty() || e.name == name)) return {e, e.kind == "mc" ? (rule.empty() ? kDefaultMcRule : rule) : ""};
    // The default looks for a kld evaluation, then a ppl one; an mc metric is never a silent default.
    if (kind.empty() && std::string(k) == "ppl") break;
  }
  if (spec.empty())
    throw Error(run.dir, "sweep.json", "no kld or ppl evaluation to rank the files by: give --metric (this run has " +
                                           evaluation_list(run) + ")");
  throw Error("--metric", spec, "this run has no such evaluation (it has " + evaluation_list(run) + ")");
}

std::optional<Measurement> measure(const RunResults& run, const RunFile& file, const QualityMetric& metric) {
  if (!file.cell.finished()) return std::nullopt;
  if (file.is_base() && metric.evaluation.kind == "kld") return Measurement{0.0, 0.0};
  const EvaluationResult* r = file.find(metric.evaluation);
  if (!r || !r->cell.finished()) return std::nullopt;
  const std::string where = cell_file(run, r->cell);
  auto number = [&](const nlohmann::ordered_json& obj, const std::string& key, const std::string& field) {
    if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number()) throw Error(where, field, "missing or not a number");
    return obj[key].get<double>();
  };
  const auto& f = r->figures;
  if (metric.evaluation.kind == "kld") return Measurement{number(f, "kld_mean", "figures.kld_mean"), number(f, "kld_stderr", "figures.kld_stderr")};
  if (metric.evaluation.kind == "ppl") return Measurement{number(f, "ppl", "figures.ppl"), number(f, "ppl_stderr", "figures.ppl_stderr")};
  const std::string field = "figures.accuracy." + metric.rule;
  if (!f.contains("accuracy") || !f["accuracy"].is_object() || !f["accuracy"].contains(metric.rule))
    throw Error(where, field, "missing (an uncond rule needs questions with an unconditioned context)");
  const auto& a = f["accuracy"][metric.rule];
  return Measurement{number(a, "acc", field + ".acc"), number(a, "stderr", field + ".stderr")};
}

std::string unmeasured_reason(const RunFile& file, const QualityMetric& metric) {
  auto said = [](const std::string& what, const CellStatus& c) {
    return what + " " + c.status + (c.error.empty() ? "" : ": " + c.error);
  };
  if (!file.cell.finished()) return said(file.is_base() ? "base" : "quantization", file.cell);
  const EvaluationResult* r = file.find(metric.evaluation);
  if (!r) return "no " + metric.evaluation.kind + ":" + metric.evaluation.name + " cell";
  return said(metric.evaluation.kind + ":" + metric.evaluation.name, r->cell);
}

}  // namespace quantlab::report
