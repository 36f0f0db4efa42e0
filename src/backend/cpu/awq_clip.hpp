#pragma once
// The CPU backend's AWQ clipping (Backend::awq_clip defines it).
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/thread_pool.hpp"

#include <cstdint>

namespace quantlab::cpu {

// w [rows][cols] (packed) clamped group by group; g: cols x cols (packed, symmetric).
void awq_clip(ThreadPool& pool, float* w, int64_t rows, int64_t cols, const float* g, const IntGroupGrid& grid,
              int clip_grid, int n_shrink);

}  // namespace quantlab::cpu
