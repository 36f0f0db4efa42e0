#include "quantlab/report/pareto.hpp"

#include <algorithm>
#include <numeric>

namespace quantlab::report {

std::vector<size_t> pareto_front(const std::vector<SizeQuality>& points, bool higher_is_better) {
  auto better = [&](double a, double b) { return higher_is_better ? a > b : a < b; };
  std::vector<size_t> order(points.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Smallest first; at equal sizes the better first, so a worse file of the same size is dominated.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (points[a].size != points[b].size) return points[a].size < points[b].size;
    return better(points[a].quality, points[b].quality);
  });
  std::vector<size_t> front;
  for (size_t i : order)
    if (front.empty() || better(points[i].quality, points[front.back()].quality)) front.push_back(i);
  return front;
}

}  // namespace quantlab::report
