#include "quantlab/quant/hessian.hpp"

#include "quantlab/backend/linalg.hpp"
#include "quantlab/backend/thread_pool.hpp"

#include <algorithm>

namespace quantlab {

void HessianAccumulator::add(const float* x, int64_t tokens) {
  if (tokens <= 0) return;
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // first tokens, or first after take_hessian()
  gram_accumulate(sum_.data(), x, tokens, n_, pool_);
  tokens_ += tokens;
}

std::vector<double> hessian_from_gram(std::vector<double> h, int64_t n, int64_t tokens, ThreadPool* pool) {
  const double s = tokens == 0 ? 0.0 : 2.0 / double(tokens);
  // Tiles of 64 x 64 along the upper triangle: each tile row scaled in place and mirrored into the
  // lower tile (a cache-friendly transpose); tile rows are independent.
  constexpr int64_t kTile = 64;
  const int64_t tiles = (n + kTile - 1) / kTile;
  auto mirror = [&](int64_t t0, int64_t t1, int) {
    for (int64_t ti = t0; ti < t1; ++ti)
      for (int64_t tj = ti; tj < tiles; ++tj)
        for (int64_t i = ti * kTile; i < std::min(n, (ti + 1) * kTile); ++i)
          for (int64_t j = std::max(i, tj * kTile); j < std::min(n, (tj + 1) * kTile); ++j)
            h[size_t(i * n + j)] = h[size_t(j * n + i)] = s * h[size_t(i * n + j)];
  };
  if (pool && pool->size() > 1 && n >= 256) pool->parallel_for(tiles, mirror);
  else mirror(0, tiles, 0);
  return h;
}

std::vector<double> HessianAccumulator::take_sums() {
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);
  std::vector<double> s = std::move(sum_);
  sum_ = {};
  tokens_ = 0;
  return s;
}

std::vector<double> HessianAccumulator::take_hessian() {
  if (sum_.empty()) sum_.assign(size_t(n_ * n_), 0.0);  // nothing added since the last take
  std::vector<double> h = hessian_from_gram(std::move(sum_), n_, tokens_, pool_);
  sum_ = {};
  tokens_ = 0;
  return h;
}

}  // namespace quantlab
