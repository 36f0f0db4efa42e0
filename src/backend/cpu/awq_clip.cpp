#include "src/backend/cpu/awq_clip.hpp"
#include "quantlab/quant/awq_math.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace quantlab::cpu {

void awq_clip(ThreadPool& pool, float* w, int64_t rows, int64_t cols, const float* g, const IntGroupGrid& grid,
              int clip_grid, int n_shrink) {
  const int64_t gs = grid.group_size;
  const int64_t n_groups = (cols + gs - 1) / gs;
  // A group's output error only involves its own block of G: copy the diagonal blocks contiguously.
  std::vector<float> blocks(size_t(n_groups * gs * gs));
  for (int64_t b = 0; b < n_groups; ++b) {
    const int64_t width = std::min(gs, cols - b * gs);
    for (int64_t i = 0; i < width; ++i)
      for (int64_t j = 0; j < width; ++j)
        blocks[size_t((b * gs + i) * gs + j)] = g[size_t((b * gs + i) * cols + b * gs + j)];
  }
  // Each (row, group) is independent: rows are split across threads, one fixed order per row.
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> diff(static_cast<size_t>(gs)), gd(static_cast<size_t>(gs));
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t b = 0; b < n_groups; ++b) {
        float* src = w + r * cols + b * gs;
        const int64_t width = std::min(gs, cols - b * gs);
        const float* block = blocks.data() + b * gs * gs;
        float amax = 0;
        for (int64_t i = 0; i < width; ++i) amax = std::max(amax, std::fabs(src[i]));
        double best_err = std::numeric_limits<double>::infinity();
        float best_max = amax;
        for (int k = 0; k < n_shrink; ++k) {
          const float max_val = awq_clip_candidate(amax, k, clip_grid);
          awq_clipped_delta_group(src, width, max_val, grid.max_code, grid.symmetric, grid.rule, diff.data());
          // gd[i] = Σ_j diff[j]·G[j][i] as Backend::awq_clip defines it (a fused multiply-add chain in
          // increasing j per element): here all i of one j at a time, which vectorizes without
          // reordering any chain; the fused multiply-add is explicit so that no build rounds it
          // differently.
          std::fill(gd.begin(), gd.begin() + width, 0.0f);
          for (int64_t j = 0; j < width; ++j) {
            const float* gj = block + j * gs;
            const float dj = diff[size_t(j)];
            for (int64_t i = 0; i < width; ++i) gd[size_t(i)] = std::fma(dj, gj[i], gd[size_t(i)]);
          }
          double err = 0;
          for (int64_t i = 0; i < width; ++i) err += double(diff[size_t(i)]) * double(gd[size_t(i)]);
          if (err < best_err) best_err = err, best_max = max_val;
        }
        for (int64_t i = 0; i < width; ++i) src[i] = std::clamp(src[i], -best_max, best_max);
      }
  });
}

}  // namespace quantlab::cpu
