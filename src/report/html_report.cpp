#include "quantlab/report/html_report.hpp"

#include "advice_reason.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/report/advise.hpp"
#include "quantlab/report/figure_format.hpp"
#include "quantlab/report/pareto.hpp"
#include "quantlab/report/svg_scatter.hpp"

#include <optional>

namespace quantlab::report {
using ojson = nlohmann::ordered_json;

namespace {

const char* kStyle =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}tr.recommended{background:#fde8e8}tr.failed td{color:#a00}"
    ".note{color:#666;font-size:90%}code{background:#f4f4f4;padding:0 3px}";

std::string e(const std::string& s) { return xml_escape(s); }

// The metric an evaluation is plotted and tabled by (mc: advise's default answer rule).
QualityMetric metric_of(const EvaluationRef& ev) { return {ev, ev.kind == "mc" ? kDefaultMcRule : ""}; }

std::string file_name(const RunFile& f) { return f.is_base() ? "(base)" : f.config; }

std::string cell_text(const RunResults& run, const RunFile& f, const QualityMetric& m) {
  if (const auto q = measure(run, f, m)) return e(measurement_text(m, *q));
  const EvaluationResult* r = f.find(m.evaluation);
  const std::string shown = f.cell.finished() && r ? r->cell.status : "—";
  return "<span title=\"" + e(unmeasured_reason(f, m)) + "\">" + e(shown) + "</span>";
}

std::string files_table(const RunResults& run, const std::string& model, const std::optional<Advice>& advice) {
  std::string s = "<table class=\"files\">\n<tr><th>file</th><th>status</th><th>size</th><th>bits/weight</th>";
  for (const EvaluationRef& ev : run.evaluations) s += "<th>" + e(metric_of(ev).label()) + "</th>";
  s += "<th>Pareto front</th></tr>\n";
  for (size_t index = 0; index < run.files.size(); ++index) {
    const RunFile& f = run.files[index];
    if (f.model != model) continue;
    bool recommended = false, on_front = false;
    if (advice)
      for (size_t i = 0; i < advice->candidates.size(); ++i)
        if (advice->candidates[i].file == index) {
          recommended = i == advice->recommended;
          on_front = advice->candidates[i].on_front;
        }
    const bool failed = f.cell.status == "failed" || f.cell.status == "blocked";
    s += std::string("<tr") + (recommended ? " class=\"recommended\"" : failed ? " class=\"failed\"" : "") + "><td>" + e(file_name(f)) +
         "</td><td" + (f.cell.error.empty() ? "" : " title=\"" + e(f.cell.error) + "\"") + ">" + e(f.cell.status) + "</td><td>" +
         (f.file_size ? human_size(*f.file_size) : "—") + "</td><td>" + (f.bits_per_weight ? significant(*f.bits_per_weight) : "—") + "</td>";
    for (const EvaluationRef& ev : run.evaluations) s += "<td>" + cell_text(run, f, metric_of(ev)) + "</td>";
    s += std::string("<td>") + (on_front ? "yes" : "") + "</td></tr>\n";
  }
  return s + "</table>\n";
}

std::string plot(const RunResults& run, const std::string& model, const EvaluationRef& ev, const std::optional<Advice>& advice) {
  const QualityMetric m = metric_of(ev);
  ScatterPlot p;
  p.title = m.label() + " against bits per weight, " + model;
  p.x_label = "bits per weight";
  p.y_label = m.label() + (m.higher_is_better() ? " (higher is better)" : " (lower is better)");
  std::vector<SizeQuality> points;
  for (const RunFile& f : run.files) {
    if (f.model != model) continue;
    const auto q = measure(run, f, m);
    if (f.is_base()) {
      if (q) p.reference_y = q->value, p.reference_label = "base " + significant(q->value);
      continue;
    }
    if (!q) continue;
    const bool recommended = advice && advice->metric.evaluation == ev && advice->candidates[advice->recommended].name == f.config;
    p.points.push_back({f.config, *f.bits_per_weight, q->value, q->stderr_, false, recommended});
    points.push_back({*f.file_size, q->value});
  }
  for (size_t i : pareto_front(points, m.higher_is_better())) p.points[i].on_front = true;
  return p.points.empty() ? "<p class=\"note\">" + e(m.label()) + ": no quantized file has a result.</p>\n" : svg_scatter(p);
}

std::string calibration_text(const ojson& c) {
  if (!c.is_object()) return "—";
  const ojson d = c.value("dataset", ojson::object());
  std::string s = d.value("name", "?") + " (sha256 " + d.value("sha256", "").substr(0, 12) + ")";
  if (c.contains("samples_used")) s += ", " + c["samples_used"].dump() + " samples";
  if (c.contains("tokens")) s += ", " + c["tokens"].dump() + " tokens";
  const ojson pk = c.value("packing", ojson::object());
  if (pk.is_object() && pk.contains("mode")) s += ", " + pk.value("mode", "") + " packing, seq_len " + pk.value("seq_len", ojson()).dump();
  const ojson t = c.value("template", ojson::object());
  if (t.is_object() && !t.value("kind", "").empty()) s += ", template " + t.value("kind", "");
  return s;
}

std::string provenance_table(const RunResults& run, const std::string& model) {
  std::string s = "<table class=\"provenance\">\n<tr><th>file</th><th>path</th><th>calibration</th></tr>\n";
  for (const RunFile& f : run.files) {
    if (f.model != model) continue;
    std::string calib = calibration_text(f.calibration);
    if (!f.imatrix_calibration.empty()) calib = "imatrix from " + f.imatrix_calibration + ": " + calib;
    s += "<tr><td>" + e(file_name(f)) + "</td><td><code>" + e(f.path.empty() ? "—" : f.path) + "</code></td><td>" + e(calib) + "</td></tr>\n";
  }
  return s + "</table>\n";
}

std::string model_section(const RunResults& run, const std::string& model) {
  std::optional<Advice> advice;
  std::string advice_html;
  try {
    AdviseOptions o;
    o.model = model;
    advice = advise(run, o);
    advice_html = "<p class=\"advice\">" + e(advice->reason) + "</p>\n<p class=\"note\">Ranked by " + e(advice->metric.label()) +
                  "; <code>quantlab advise " + e(run.dir) + " --model " + e(model) + "</code> takes a size or bits-per-weight budget.</p>\n";
  } catch (const Error& err) {
    advice_html = "<p class=\"advice\">No advice: " + e(err.what()) + "</p>\n";
  }
  std::string s = "<h2>Model " + e(model) + "</h2>\n<h3>Recommendation</h3>\n" + advice_html;
  s += "<h3>Files</h3>\n<p class=\"note\">Each figure ± its standard error; a cell that failed, is blocked or has not run shows its status "
       "(hover for the error).</p>\n" + files_table(run, model, advice);
  s += "<h3>Quality against bits per weight</h3>\n";
  for (const EvaluationRef& ev : run.evaluations) s += plot(run, model, ev, advice);
  s += "<h3>Provenance</h3>\n" + provenance_table(run, model);
  return s;
}

}  // namespace

std::string html_report(const RunResults& run) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>quantlab report: " + e(run.dir) +
                  "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>quantlab sweep report</h1>\n";
  std::string versions;
  for (const std::string& v : run.versions_in_cells) versions += (versions.empty() ? "" : ", ") + v;
  s += "<p>Run directory <code>" + e(run.dir) + "</code>, recipe <code>" + e(run.recipe) + "</code> (a copy in <code>recipe.yaml</code>); "
       "sweep.json written by quantlab " + e(run.quantlab_version) + (run.commit.empty() ? "" : " (" + e(run.commit) + ")") +
       "; results computed by quantlab " + e(versions.empty() ? "—" : versions) + ".</p>\n";
  for (const std::string& model : run.models) s += model_section(run, model);
  std::string others;
  for (const CellStatus& c : run.other_cells)
    if (!c.finished()) others += "<li><code>" + e(c.id) + "</code>: " + e(c.status) + (c.error.empty() ? "" : ": " + e(c.error)) + "</li>\n";
  if (!others.empty()) s += "<h2>Other cells not done</h2>\n<ul>\n" + others + "</ul>\n";
  return s + "</body>\n</html>\n";
}

}  // namespace quantlab::report
