#include "quantlab/quant/gptq_gguf.hpp"

#include "src/quant/gptq_sweep.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/formats/block_grid.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>

namespace quantlab {
namespace {

void check_fits(FormatId type, int64_t cols) {
  const FormatTraits& ft = format_traits(type);
  if (cols % ft.block_size != 0)
    throw Error(std::string(ft.name), "cols", "rows of " + std::to_string(cols) + " values do not fit blocks of " +
                                                  std::to_string(ft.block_size));
}

}  // namespace

bool gptq_gguf_supports(FormatId type) { return find_block_grid(type) != nullptr; }

GgufBlockMatrix encode_gguf_matrix(const float* w, int64_t rows, int64_t cols, FormatId type, const float* importance) {
  const FormatTraits& ft = format_traits(type);
  check_fits(type, cols);
  GgufBlockMatrix m;
  m.type = type, m.rows = rows, m.cols = cols;
  const size_t rb = row_bytes(type, cols);
  m.bytes.resize(rb * size_t(rows));
  m.dequantized.resize(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = m.bytes.data() + size_t(r) * rb;
    if (type == FormatId::F32) std::memcpy(dst, w + r * cols, rb);
    else if (ft.from_float) ft.from_float(w + r * cols, dst, cols, ft.is_quantized ? importance : nullptr);
    else throw Error(std::string(ft.name), "type", "quantlab cannot encode this type");
    ft.to_float(dst, m.dequantized.data() + r * cols, cols);
  }
  return m;
}

GgufBlockMatrix gptq_quantize_gguf(const float* w, int64_t rows, int64_t cols, std::vector<double> H, FormatId type,
                                   const GptqOptions& opt, GptqReport* report, Backend* backend, ThreadPool* pool) {
  if (int64_t(H.size()) != cols * cols) throw Error("", "hessian", "size does not match the weight's input dimension");
  GptqHessian h = GptqHessian::from_host(backend ? *backend : gptq_detail::host_backend(), H, cols);
  return gptq_quantize_gguf(w, rows, cols, h, type, opt, report, pool);
}

GgufBlockMatrix gptq_quantize_gguf(const float* w, int64_t rows, int64_t cols, GptqHessian& H, FormatId type,
                                   const GptqOptions& opt, GptqReport* report, ThreadPool* pool) {
  const BlockGrid* grid = find_block_grid(type);
  const FormatTraits& ft = format_traits(type);
  if (!grid) throw Error(std::string(ft.name), "type", "GPTQ has no level grid for this GGUF type");
  if (H.n() != cols) throw Error("", "hessian", "size does not match the weight's input dimension");
  check_fits(type, cols);
  const int64_t bs = grid->block_size, n_blocks = cols / bs;

  std::optional<PhaseScope> preparing(std::in_place, "gptq.prepare");
  GptqReport rep;
  // The importance of each input column for the parameter fit, as an imatrix would give it.
  std::vector<float> importance(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) importance[size_t(c)] = float(H.gptq_diagonal(c));

  // Processing order. Act-order must keep a block's columns together: its parameters are fitted
  // when the sweep enters it, from weights that every earlier column has already updated.
  std::vector<int64_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order) {
    std::vector<int64_t> blocks(static_cast<size_t>(n_blocks));
    std::vector<double> block_sum(static_cast<size_t>(n_blocks), 0.0);
    std::iota(blocks.begin(), blocks.end(), 0);
    for (int64_t c = 0; c < cols; ++c) block_sum[size_t(c / bs)] += H.gptq_diagonal(c);
    std::stable_sort(blocks.begin(), blocks.end(), [&](int64_t a, int64_t b) { return block_sum[size_t(a)] > block_sum[size_t(b)]; });
    for (int64_t i = 0; i < n_blocks; ++i) {
      auto first = perm.begin() + i * bs;
      std::iota(first, first + bs, blocks[size_t(i)] * bs);
      std::stable_sort(first, first + bs, [&](int64_t a, int64_t b) { return H.gptq_diagonal(a) > H.gptq_diagonal(b); });
    }
  }
  gptq_detail::SweptWeight wt = gptq_detail::weight_in_order(w, rows, cols, perm, H, pool);
  rep.dead_columns = wt.dead;
  std::vector<int64_t> position(static_cast<size_t>(cols));  // original column -> processing position
  for (int64_t i = 0; i < cols; ++i) position[size_t(perm[size_t(i)])] = i;

  GgufBlockMatrix out;
  out.type = type, out.rows = rows, out.cols = cols;
  const size_t rb = row_bytes(type, cols);
  out.bytes.resize(rb * size_t(rows));
  out.dequantized.resize(size_t(rows * cols));
  auto block_of = [&](int64_t r, int64_t b) { return out.bytes.data() + size_t(r) * rb + size_t(b) * ft.block_bytes; };

  // The grid of the block being swept, for every row; a row's values for the fit, per thread.
  std::vector<float> scale(size_t(rows * bs)), offset(size_t(rows * bs));
  std::vector<int16_t> level(size_t(rows * bs));
  const int threads = pool ? pool->size() : 1;
  std::vector<float> xs(size_t(threads * bs));

  Backend& be = H.backend();
  preparing.reset();
  const GptqHessian::Factor& factor = H.factor(perm, opt.damp_percent);
  rep.damp_used = factor.damp;
  // Blocks must start on lazy-block boundaries (or lie inside one) to be fitted from current weights;
  // a block's parameters are fitted from its bs columns.
  const int64_t lazy = (std::max<int64_t>(1, opt.block_size) + bs - 1) / bs * bs;
  // Rows are independent throughout: the sweep shares them out without changing a bit.
  rep.loss = gptq_detail::sweep(be, pool, wt.data(), rows, cols, factor.u, lazy, bs,
                                [&](int64_t col, int64_t r0, int64_t r1, int thread, const float* wc, float* q) {
    const int64_t orig = perm[size_t(col)];
    const int64_t b = orig / bs, k = orig % bs;
    if (col % bs == 0) {  // entering block b: fit its parameters on each row's current weights
      float* x = xs.data() + thread * bs;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t i = 0; i < bs; ++i) x[i] = wt.data()[position[size_t(b * bs + i)] * rows + r];
        uint8_t* blk = block_of(r, b);
        ft.from_float(x, blk, bs, importance.data() + b * bs);
        grid->read(blk, scale.data() + r * bs, offset.data() + r * bs, level.data() + r * bs);
      }
    }
    for (int64_t r = r0; r < r1; ++r) {
      const size_t i = size_t(r * bs + k);
      const int l = grid_level(*grid, wc[r], scale[i], offset[i], level[i]);
      level[i] = int16_t(l);
      q[r] = grid_value(scale[i], offset[i], l);
      out.dequantized[size_t(r * cols + orig)] = q[r];
    }
    if (col % bs == bs - 1)
      for (int64_t r = r0; r < r1; ++r) grid->write_levels(block_of(r, b), level.data() + r * bs);
  });
  if (report) *report = rep;
  return out;
}

}  // namespace quantlab
