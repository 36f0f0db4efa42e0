#include "quantlab/report/svg_scatter.hpp"

#include "quantlab/report/figure_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace quantlab::report {

namespace {

constexpr double kWidth = 640, kHeight = 380, kLeft = 78, kRight = 24, kTop = 36, kBottom = 56;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

struct Scale {
  double lo, hi, from, to;
  double operator()(double v) const { return from + (v - lo) / (hi - lo) * (to - from); }
};

// [lo, hi] widened by 5 % each side (and to a unit span when every value is the same).
std::pair<double, double> padded_range(double lo, double hi) {
  if (!(hi > lo)) return {lo - std::max(1.0, std::fabs(lo)) * 0.05, hi + std::max(1.0, std::fabs(hi)) * 0.05};
  const double pad = (hi - lo) * 0.05;
  return {lo - pad, hi + pad};
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string s;
  for (char c : text) {
    switch (c) {
      case '&': s += "&amp;"; break;
      case '<': s += "&lt;"; break;
      case '>': s += "&gt;"; break;
      case '"': s += "&quot;"; break;
      case '\'': s += "&#39;"; break;
      default: s += c;
    }
  }
  return s;
}

std::vector<double> nice_ticks(double low, double high, int count) {
  if (!(high > low) || count < 1) return {low};
  const double raw = (high - low) / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  std::vector<double> ticks;
  // Each tick as a multiple of the step (no accumulated rounding); "-0" written as 0.
  for (double k = std::ceil(low / step); k * step <= high + step * 1e-9; k += 1) ticks.push_back(k == 0 ? 0.0 : k * step);
  return ticks;
}

std::string svg_scatter(const ScatterPlot& p) {
  double xlo = 0, xhi = 0, ylo = 0, yhi = 0;
  bool first = true;
  auto extend = [&](double x, double ylow, double yhigh) {
    xlo = first ? x : std::min(xlo, x);
    xhi = first ? x : std::max(xhi, x);
    ylo = first ? ylow : std::min(ylo, ylow);
    yhi = first ? yhigh : std::max(yhi, yhigh);
    first = false;
  };
  for (const ScatterPoint& pt : p.points) extend(pt.x, pt.y - pt.error, pt.y + pt.error);
  if (p.reference_y && !first) ylo = std::min(ylo, *p.reference_y), yhi = std::max(yhi, *p.reference_y);
  const auto [x0, x1] = padded_range(xlo, xhi);
  const auto [y0, y1] = padded_range(ylo, yhi);
  const Scale sx{x0, x1, kLeft, kWidth - kRight}, sy{y0, y1, kHeight - kBottom, kTop};

  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" + num(kHeight) +
                  "\" viewBox=\"0 0 " + num(kWidth) + " " + num(kHeight) + "\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s += "<title>" + xml_escape(p.title) + "</title>\n";
  s += "<text x=\"" + num(kWidth / 2) + "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">" + xml_escape(p.title) + "</text>\n";
  s += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(kWidth - kLeft - kRight) + "\" height=\"" +
       num(kHeight - kTop - kBottom) + "\" fill=\"none\" stroke=\"#999\"/>\n";
  for (double t : nice_ticks(x0, x1, 6))
    s += "<line x1=\"" + num(sx(t)) + "\" y1=\"" + num(kHeight - kBottom) + "\" x2=\"" + num(sx(t)) + "\" y2=\"" +
         num(kHeight - kBottom + 4) + "\" stroke=\"#999\"/><text x=\"" + num(sx(t)) + "\" y=\"" + num(kHeight - kBottom + 16) +
         "\" text-anchor=\"middle\">" + significant(t) + "</text>\n";
  for (double t : nice_ticks(y0, y1, 5))
    s += "<line x1=\"" + num(kLeft - 4) + "\" y1=\"" + num(sy(t)) + "\" x2=\"" + num(kWidth - kRight) + "\" y2=\"" + num(sy(t)) +
         "\" stroke=\"#eee\"/><text x=\"" + num(kLeft - 6) + "\" y=\"" + num(sy(t) + 4) + "\" text-anchor=\"end\">" + significant(t) +
         "</text>\n";
  s += "<text x=\"" + num((kLeft + kWidth - kRight) / 2) + "\" y=\"" + num(kHeight - 12) + "\" text-anchor=\"middle\">" +
       xml_escape(p.x_label) + "</text>\n";
  s += "<text transform=\"translate(16," + num((kTop + kHeight - kBottom) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       xml_escape(p.y_label) + "</text>\n";
  if (p.reference_y) {
    s += "<line class=\"reference\" x1=\"" + num(kLeft) + "\" y1=\"" + num(sy(*p.reference_y)) + "\" x2=\"" + num(kWidth - kRight) +
         "\" y2=\"" + num(sy(*p.reference_y)) + "\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>\n";
    s += "<text x=\"" + num(kWidth - kRight - 4) + "\" y=\"" + num(sy(*p.reference_y) - 4) + "\" text-anchor=\"end\" fill=\"#555\">" +
         xml_escape(p.reference_label) + "</text>\n";
  }
  std::vector<const ScatterPoint*> front;
  for (const ScatterPoint& pt : p.points)
    if (pt.on_front) front.push_back(&pt);
  std::stable_sort(front.begin(), front.end(), [](const ScatterPoint* a, const ScatterPoint* b) { return a->x < b->x; });
  if (front.size() > 1) {
    s += "<polyline class=\"pareto-front\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
    for (size_t i = 0; i < front.size(); ++i) {
      if (i) s += ' ';
      s += num(sx(front[i]->x)) + "," + num(sy(front[i]->y));
    }
    s += "\"/>\n";
  }
  for (const ScatterPoint& pt : p.points) {
    const std::string colour = pt.recommended ? "#d62728" : pt.on_front ? "#1f77b4" : "#888";
    if (pt.error > 0)
      s += "<line x1=\"" + num(sx(pt.x)) + "\" y1=\"" + num(sy(pt.y - pt.error)) + "\" x2=\"" + num(sx(pt.x)) + "\" y2=\"" +
           num(sy(pt.y + pt.error)) + "\" stroke=\"" + colour + "\"/>\n";
    s += "<circle cx=\"" + num(sx(pt.x)) + "\" cy=\"" + num(sy(pt.y)) + "\" r=\"" + (pt.on_front ? "4.5" : "3") + "\" fill=\"" + colour +
         "\"><title>" + xml_escape(pt.label + ": " + significant(pt.x) + ", " + significant(pt.y)) + "</title></circle>\n";
    if (pt.on_front || pt.recommended)
      s += "<text x=\"" + num(sx(pt.x) + 6) + "\" y=\"" + num(sy(pt.y) - 6) + "\" fill=\"" + colour + "\">" + xml_escape(pt.label) + "</text>\n";
  }
  return s + "</svg>\n";
}

}  // namespace quantlab::report
