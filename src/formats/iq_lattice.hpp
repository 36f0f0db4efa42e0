#pragma once
// The encoding side of an i-quant grid: a vector of small non-negative levels (one per coordinate)
// is either a grid entry or, off the grid, replaced by the best of its nearest grid entries. This
// reproduces llama.cpp's iq2xs_init_impl / iq3xs_init_impl tables (map and neighbour lists,
// neighbours ordered by distance then index) and its *_find_best_neighbour searches.
#include <cstdint>
#include <vector>

namespace quantlab::formats {

class Lattice {
 public:
  // `entries` are the decoding grid (bytes of each entry), `values` the distinct coordinate
  // values in level order, `bits` the bits per coordinate in a packed level vector, `rings` how
  // many distinct distances of neighbours to keep.
  Lattice(const uint64_t* entries, int size, int dim, const std::vector<int>& values, int bits, int max_level, int rings);

  int dim() const { return dim_; }
  int bits() const { return bits_; }
  int size() const { return int(points_.size() / size_t(dim_)); }
  // Level (0..) of coordinate i of grid entry `index`.
  int level(int index, int i) const { return points_[size_t(index) * size_t(dim_) + size_t(i)]; }

  // Packed level vector (levels must be in 0..max_level).
  int pack(const int8_t* levels) const;
  // Grid index of a packed vector, or -1 when it is off the grid (or not a valid packing).
  int grid_index(int packed) const {
    return packed >= 0 && size_t(packed) < map_.size() ? map_[size_t(packed)] : -1;
  }

  // Off-grid vector: the neighbour minimising sum w * (scale * (2l+1) - x)^2 (first on ties);
  // writes its levels to `levels` and returns its index.
  int best_neighbour(int packed, const float* x, const float* w, float scale, int8_t* levels) const;
  // The neighbours of an off-grid packed vector, nearest first.
  const std::vector<uint16_t>& neighbours(int packed) const { return neighbours_[size_t(packed)]; }

 private:
  int dim_, bits_;
  std::vector<int8_t> points_;                   // levels, dim per entry
  std::vector<int> map_;                         // packed levels -> index or -1
  std::vector<std::vector<uint16_t>> neighbours_;  // per packed off-grid vector
};

// One lattice per grid, built on first use.
const Lattice& iq2xxs_lattice();
const Lattice& iq2xs_lattice();
const Lattice& iq2s_lattice();
const Lattice& iq3xxs_lattice();
const Lattice& iq3s_lattice();
const Lattice& iq1s_lattice();  // shared by IQ1_S and IQ1_M

}  // namespace quantlab::formats
