// Reading a sweep's run directory back (run_results.hpp): sweep.json for every cell and its status,
// each finished cell's result file for its figures, joined by model and configuration.
#include "quantlab/report/run_results.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/io/json.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

namespace quantlab::report {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// A string member `key` of `obj`; `where` names the object inside `source` ("cells[3]").
std::string member_string(const nlohmann::json& obj, const std::string& key, const std::string& source, const std::string& where,
                          bool required = true) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) throw Error(source, where + "." + key, "missing");
    return "";
  }
  if (!it->is_string()) throw Error(source, where + "." + key, "expected a string, got " + std::string(it->type_name()));
  return it->get<std::string>();
}

std::optional<double> member_number(const ojson& obj, const std::string& key) {
  if (!obj.is_object()) return std::nullopt;
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// The row of sweep.json for one cell, with its result read when it has one.
struct CellRow {
  std::string kind, model, config, evaluation;
  CellStatus status;
  ojson result;  // null unless finished
};

class RunReader {
 public:
  explicit RunReader(std::string dir) : dir_(std::move(dir)) {}

  RunResults read() {
    std::error_code ec;
    if (!fs::exists(dir_, ec)) throw Error(dir_, "", "no such run directory");
    const std::string status_path = (fs::path(dir_) / "sweep.json").string();
    if (!fs::is_directory(dir_, ec) || !fs::is_regular_file(status_path, ec))
      throw Error(dir_, "sweep.json", "not a sweep run directory (quantlab sweep writes RUN/sweep.json)");
    const nlohmann::json status = read_json_file(status_path);
    if (!status.is_object()) throw Error(status_path, "", "expected a JSON object");
    const auto cells = status.find("cells");
    if (cells == status.end() || !cells->is_array()) throw Error(status_path, "cells", "expected an array of cells");

    RunResults run;
    run.dir = dir_;
    run.recipe = member_string(status, "recipe", status_path, "", false);
    run.quantlab_version = member_string(status, "quantlab", status_path, "", false);
    run.commit = member_string(status, "commit", status_path, "", false);
    std::vector<CellRow> rows;
    for (size_t i = 0; i < cells->size(); ++i) rows.push_back(read_row((*cells)[i], status_path, "cells[" + std::to_string(i) + "]"));

    for (const CellRow& r : rows) {
      if (std::find(run.models.begin(), run.models.end(), r.model) == run.models.end()) run.models.push_back(r.model);
      if (r.kind == "ppl" || r.kind == "kld" || r.kind == "mc" || r.kind == "base-logits") {
        const EvaluationRef e{r.kind == "base-logits" ? "kld" : r.kind, r.evaluation};
        if (std::find(run.evaluations.begin(), run.evaluations.end(), e) == run.evaluations.end()) run.evaluations.push_back(e);
      }
    }
    join(rows, run);
    if (std::none_of(rows.begin(), rows.end(), [](const CellRow& r) { return r.kind == "quantize"; }))
      throw Error(status_path, "cells", "no quantize cell: the recipe quantized nothing, so there is no file to compare");
    return run;
  }

 private:
  CellRow read_row(const nlohmann::json& c, const std::string& source, const std::string& where) {
    if (!c.is_object()) throw Error(source, where, "expected an object");
    CellRow r;
    r.status.id = member_string(c, "cell", source, where);
    r.kind = member_string(c, "kind", source, where);
    r.status.status = member_string(c, "status", source, where);
    r.status.error = member_string(c, "error", source, where, false);
    r.model = member_string(c, "model", source, where);
    r.config = member_string(c, "config", source, where, false);
    r.evaluation = member_string(c, "evaluation", source, where, false);
    static const char* kKinds[] = {"base", "imatrix", "quantize", "base-logits", "ppl", "kld", "mc"};
    if (std::find(std::begin(kKinds), std::end(kKinds), r.kind) == std::end(kKinds))
      throw Error(source, where + ".kind", "unknown cell kind '" + r.kind + "'");
    if ((r.kind == "ppl" || r.kind == "kld" || r.kind == "mc" || r.kind == "base-logits") && r.evaluation.empty())
      throw Error(source, where + ".evaluation", "missing");
    if (r.kind == "quantize" && r.config.empty()) throw Error(source, where + ".config", "missing");
    if (!r.status.finished()) return r;
    // A finished cell's result is what the figures come from: it must be there and be the same cell.
    const std::string rel = member_string(c, "result", source, where);
    // A run directory may come from someone else: its listing names files inside it, never beyond.
    const fs::path rel_path(rel);
    if (rel_path.is_absolute() || std::find(rel_path.begin(), rel_path.end(), fs::path("..")) != rel_path.end())
      throw Error(source, where + ".result", "'" + rel + "' is not a path inside the run directory");
    const std::string path = (fs::path(dir_) / rel).string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw Error(path, "", "the result sweep.json lists for " + r.status.id + " is missing");
    const nlohmann::json parsed = read_json_file(path);
    r.result = ojson::parse(parsed.dump());  // read defensively (size, depth, duplicate keys) above
    if (!r.result.is_object()) throw Error(path, "", "expected a JSON object");
    const std::string key = member_string(c, "key", source, where);
    if (member_string(parsed, "key", path, "") != key)
      throw Error(path, "key", "differs from sweep.json's key for " + r.status.id + " (a result from another run?)");
    if (!r.result.contains("figures") || !r.result["figures"].is_object()) throw Error(path, "figures", "expected an object");
    return r;
  }

  void join(const std::vector<CellRow>& rows, RunResults& run) const {
    // Imatrix results by their output path, for the quantize cells that read them.
    std::map<std::string, const CellRow*> imatrix_by_path;
    for (const CellRow& r : rows) {
      if (r.kind == "imatrix" || r.kind == "base-logits") run.other_cells.push_back(r.status);
      if (r.kind == "imatrix" && r.status.finished() && r.result.contains("output"))
        imatrix_by_path[r.result["output"].value("path", "")] = &r;
    }
    for (const CellRow& r : rows) {
      if (r.kind != "base" && r.kind != "quantize") continue;
      RunFile f;
      f.model = r.model;
      f.config = r.kind == "quantize" ? r.config : "";
      f.cell = r.status;
      if (r.status.finished()) {
        const ojson& res = r.result;
        f.figures = res["figures"];
        f.file_size = member_number(f.figures, "file_size");
        f.bits_per_weight = member_number(f.figures, "bits_per_weight");
        const std::string where = (fs::path(dir_) / "cells" / (r.status.id + ".json")).string();
        if (!f.file_size) throw Error(where, "figures.file_size", "missing or not a number");
        if (!f.bits_per_weight) throw Error(where, "figures.bits_per_weight", "missing or not a number");
        if (res.contains("output")) f.path = res["output"].value("path", "");
        const ojson inputs = res.value("inputs", ojson::object());
        if (inputs.contains("calibration")) f.calibration = inputs["calibration"];
        if (inputs.contains("imatrix")) {
          const auto it = imatrix_by_path.find(inputs["imatrix"].value("path", ""));
          if (it != imatrix_by_path.end()) {
            f.imatrix_calibration = it->second->result.value("calibration", "");
            f.calibration = it->second->result["inputs"].value("calibration", ojson());
          }
        }
      }
      for (const EvaluationRef& e : run.evaluations)
        for (const CellRow& ev : rows)
          if (ev.kind == e.kind && ev.evaluation == e.name && ev.model == r.model && ev.config == f.config) {
            EvaluationResult er;
            er.evaluation = e;
            er.cell = ev.status;
            if (ev.status.finished()) {
              er.figures = ev.result["figures"];
              er.inputs = ev.result.value("inputs", ojson::object());
            }
            f.evaluations.push_back(std::move(er));
          }
      run.files.push_back(std::move(f));
    }
    for (const CellRow& r : rows) {
      if (!r.status.finished() || !r.result.contains("run")) continue;
      const ojson& info = r.result["run"];
      const std::string v = info.value("quantlab", "?") + " (" + info.value("commit", "") + ")";
      if (std::find(run.versions_in_cells.begin(), run.versions_in_cells.end(), v) == run.versions_in_cells.end())
        run.versions_in_cells.push_back(v);
    }
  }

  std::string dir_;
};

}  // namespace

const EvaluationResult* RunFile::find(const EvaluationRef& e) const {
  for (const EvaluationResult& r : evaluations)
    if (r.evaluation == e) return &r;
  return nullptr;
}

RunResults read_run(const std::string& dir) { return RunReader(dir).read(); }

}  // namespace quantlab::report
