#pragma once
// The Pareto front of files by size against quality: the files no other file beats on both, i.e.
// every file for which each smaller (or equally large) file is strictly worse. Along the front,
// buying quality always costs bytes; anything off it is a file not to ship.
#include <cstddef>
#include <vector>

namespace quantlab::report {

struct SizeQuality {
  double size = 0;
  double quality = 0;
};

// Indices of the points on the front, from the smallest to the largest. A point with the same
// quality as a smaller one is off it (it costs more for nothing); of equal points the first is kept.
std::vector<size_t> pareto_front(const std::vector<SizeQuality>& points, bool higher_is_better);

}  // namespace quantlab::report
