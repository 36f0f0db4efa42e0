#pragma once
// Steps shared by the i-quant encoders (llama.cpp: quantize_row_iq2_*_impl, quantize_row_iq3_*).
#include "src/formats/block_math.hpp"
#include "src/formats/iq_lattice.hpp"

namespace quantlab::formats {

// Magnitudes and sign bits of `groups` groups of 8 values. IQ2_XXS/XS and IQ3_XXS store only 7
// sign bits per group, so an odd number of negatives is made even by flipping the value that
// costs least (smallest weight * x^2); its magnitude becomes negative.
inline void split_signs_even(const float* x, const float* weight, float* xval, uint8_t* signs, int groups) {
  for (int k = 0; k < groups; ++k) {
    int nflip = 0;
    uint8_t s = 0;
    for (int i = 0; i < 8; ++i) {
      const float v = x[8 * k + i];
      if (v >= 0) {
        xval[8 * k + i] = v;
      } else {
        xval[8 * k + i] = -v;
        ++nflip;
        s = uint8_t(s | (1 << i));
      }
    }
    if (nflip % 2) {
      int imin = 0;
      float min = weight[8 * k] * x[8 * k] * x[8 * k];
      for (int i = 1; i < 8; ++i) {
        const float ax = weight[8 * k + i] * x[8 * k + i] * x[8 * k + i];
        if (ax < min) {
          min = ax;
          imin = i;
        }
      }
      xval[8 * k + imin] = -xval[8 * k + imin];
      s = uint8_t(s ^ (1 << imin));
    }
    signs[k] = s & 127;
  }
}

// Magnitudes and all 8 sign bits per group (IQ2_S, IQ3_S).
inline void split_signs(const float* x, float* xval, uint8_t* signs, int groups) {
  for (int k = 0; k < groups; ++k) {
    uint8_t s = 0;
    for (int i = 0; i < 8; ++i) {
      const float v = x[8 * k + i];
      if (v >= 0) {
        xval[8 * k + i] = v;
      } else {
        xval[8 * k + i] = -v;
        s = uint8_t(s | (1 << i));
      }
    }
    signs[k] = s;
  }
}

// Levels of one lattice group of Dim values for inverse scale `id` (q = 2l + 1 approximates
// id * x); returns them packed.
template <int Dim>
inline int round_group(const Lattice& lattice, float id, const float* xval, int max_level, int8_t* levels) {
  for (int i = 0; i < Dim; ++i)
    levels[i] = int8_t(std::max(0, std::min(max_level, nearest_int(0.5f * (id * xval[i] - 1)))));
  return lattice.pack(levels);
}

// Weighted least-squares fit of x by scale * (2L + 1).
inline void fit_odd_levels(const int8_t* L, const float* xval, const float* weight, int n, float& sumqx, float& sumq2) {
  sumqx = 0;
  sumq2 = 0;
  for (int i = 0; i < n; ++i) {
    const float w = weight[i];
    const float q = float(2 * L[i] + 1);
    sumqx += w * xval[i] * q;
    sumq2 += w * q * q;
  }
}

// Grid index of a group's final levels. llama.cpp aborts if they are off the grid, which only
// degenerate input (NaN, all-zero weights) can cause; quantlab encodes entry 0 instead.
inline int final_grid_index(const Lattice& lattice, const int8_t* levels) {
  for (int i = 0; i < lattice.dim(); ++i)
    if (levels[i] < 0 || levels[i] >= (1 << lattice.bits())) return 0;
  const int index = lattice.grid_index(lattice.pack(levels));
  return index >= 0 ? index : 0;
}

}  // namespace quantlab::formats
