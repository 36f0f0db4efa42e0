#include "src/formats/block_math.hpp"
#include "src/formats/iq_lattice.hpp"
#include "src/formats/iq_grids.hpp"

#include <algorithm>
#include <cfloat>
#include <stdexcept>
#include <utility>

namespace quantlab::formats {

Lattice::Lattice(const uint64_t* entries, int size, int dim, const std::vector<int>& values, int bits, int max_level,
                 int rings)
    : dim_(dim), bits_(bits) {
  points_.resize(size_t(size) * size_t(dim));
  map_.assign(size_t(1) << (bits * dim), -1);
  if (dim > 8) throw std::logic_error("i-quant groups have at most 8 values");
  for (int k = 0; k < size; ++k) {
    int packed = 0;
    for (int i = 0; i < dim; ++i) {
      const int value = dim == 8 ? int(int8_t(grid_byte(entries[k], i))) : int(uint8_t(entries[k] >> (8 * i)));
      const auto it = std::find(values.begin(), values.end(), value);
      if (it == values.end()) throw std::logic_error("i-quant grid value outside its level table");
      const int level = int(it - values.begin());
      points_[size_t(k) * size_t(dim) + size_t(i)] = int8_t(level);
      packed |= level << (bits * i);
    }
    map_[size_t(packed)] = k;
  }
  // Neighbour lists of every off-grid vector the quantizers can produce (levels 0..max_level):
  // all grid entries at the `rings` smallest distinct squared distances, by distance then index.
  if (rings < 1 || rings > 8) throw std::logic_error("neighbour rings out of range");
  neighbours_.resize(map_.size());
  std::vector<std::pair<int, int>> by_distance;
  std::vector<int> distances(static_cast<size_t>(size));
  int8_t levels[8] = {};
  int combinations = 1;
  for (int i = 0; i < dim; ++i) combinations *= max_level + 1;
  for (int c = 0; c < combinations; ++c) {
    for (int i = 0, rest = c; i < dim; ++i, rest /= max_level + 1) levels[i] = int8_t(rest % (max_level + 1));
    const int packed = pack(levels);
    if (map_[size_t(packed)] >= 0) continue;
    // The `rings` smallest distinct distances, then the entries within them, sorted.
    std::vector<int>& d2 = distances;
    int smallest[8];
    int found = 0;
    for (int k = 0; k < size; ++k) {
      int sum = 0;
      for (int i = 0; i < dim; ++i) {
        const int diff = level(k, i) - levels[i];
        sum += diff * diff;
      }
      d2[size_t(k)] = sum;
      int pos = 0;
      while (pos < found && smallest[pos] < sum) ++pos;
      if (pos < found && smallest[pos] == sum) continue;
      if (pos >= rings) continue;
      for (int j = std::min(found, rings - 1); j > pos; --j) smallest[j] = smallest[j - 1];
      smallest[pos] = sum;
      found = std::min(found + 1, rings);
    }
    const int threshold = smallest[found - 1];
    by_distance.clear();
    for (int k = 0; k < size; ++k)
      if (d2[size_t(k)] <= threshold) by_distance.emplace_back(d2[size_t(k)], k);
    std::sort(by_distance.begin(), by_distance.end());
    auto& list = neighbours_[size_t(packed)];
    for (const auto& entry : by_distance) list.push_back(uint16_t(entry.second));
  }
}

int Lattice::pack(const int8_t* levels) const {
  int packed = 0;
  for (int i = 0; i < dim_; ++i) packed |= int(levels[i]) << (bits_ * i);
  return packed;
}

int Lattice::best_neighbour(int packed, const float* x, const float* w, float scale, int8_t* levels) const {
  float best_d2 = FLT_MAX;
  int best = -1;
  for (const uint16_t index : neighbours_[size_t(packed)]) {
    float d2 = 0;
    for (int i = 0; i < dim_; ++i) {
      const float q = float(2 * level(index, i) + 1);
      const float diff = scale * q - x[i];
      d2 += w[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      best = index;
    }
  }
  // NaN distances (garbage input) never compare smaller; fall back to the nearest entry.
  if (best < 0) best = neighbours_[size_t(packed)].front();
  for (int i = 0; i < dim_; ++i) levels[i] = int8_t(level(best, i));
  return best;
}

namespace {
const std::vector<int> kIq2Values = {0x08, 0x19, 0x2b};
}  // namespace

const Lattice& iq2xxs_lattice() {
  static const Lattice lattice(kIq2xxsGrid, 256, 8, kIq2Values, 2, 2, 2);
  return lattice;
}
const Lattice& iq2xs_lattice() {
  static const Lattice lattice(kIq2xsGrid, 512, 8, kIq2Values, 2, 2, 2);
  return lattice;
}
const Lattice& iq2s_lattice() {
  static const Lattice lattice(kIq2sGrid, 1024, 8, kIq2Values, 2, 2, 1);
  return lattice;
}
const Lattice& iq1s_lattice() {
  static const Lattice lattice(kIq1sGrid, 2048, 8, {-1, 0, 1}, 2, 2, 3);
  return lattice;
}
const Lattice& iq3xxs_lattice() {
  static const std::vector<uint64_t> entries(std::begin(kIq3xxsGrid), std::end(kIq3xxsGrid));
  static const Lattice lattice(entries.data(), 256, 4, {0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3e}, 3, 7, 2);
  return lattice;
}
const Lattice& iq3s_lattice() {
  static const std::vector<uint64_t> entries(std::begin(kIq3sGrid), std::end(kIq3sGrid));
  static const Lattice lattice(entries.data(), 512, 4, {0x01, 0x03, 0x05, 0x07, 0x09, 0x0b, 0x0d, 0x0f}, 3, 7, 3);
  return lattice;
}

}  // namespace quantlab::formats
