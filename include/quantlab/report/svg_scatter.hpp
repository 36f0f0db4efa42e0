#pragma once
// A scatter plot as inline SVG text (no script, no external reference): points with vertical error
// bars, the Pareto front drawn as a line through its points, an optional horizontal reference line
// (the base), axes with round tick values. Same input, same bytes.
#include <optional>
#include <string>
#include <vector>

namespace quantlab::report {

struct ScatterPoint {
  std::string label;
  double x = 0, y = 0;
  double error = 0;          // drawn as y +- error
  bool on_front = false;     // drawn bold, joined by the front's line, labelled
  bool recommended = false;  // drawn in the accent colour
};

struct ScatterPlot {
  std::string title, x_label, y_label;
  std::vector<ScatterPoint> points;
  std::optional<double> reference_y;
  std::string reference_label;
};

// Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart), at most about `count`.
std::vector<double> nice_ticks(double low, double high, int count);

std::string svg_scatter(const ScatterPlot& plot);

// `text` with & < > " ' escaped for XML and HTML.
std::string xml_escape(const std::string& text);

}  // namespace quantlab::report
