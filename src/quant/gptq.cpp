#include "quantlab/quant/gptq.hpp"

#include "src/quant/gptq_sweep.hpp"

#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <string>

namespace quantlab {

IntQuantizedMatrix gptq_quantize(const float* w, int64_t rows, int64_t cols, std::vector<double> H,
                                 const IntGridSpec& grid, const GptqOptions& opt, GptqReport* report, Backend* backend, ThreadPool* pool) {
  if (int64_t(H.size()) != cols * cols) throw Error("", "hessian", "size does not match the weight's input dimension");
  GptqHessian h = GptqHessian::from_host(backend ? *backend : gptq_detail::host_backend(), H, cols);
  return gptq_quantize(w, rows, cols, h, grid, opt, report, pool);
}

IntQuantizedMatrix gptq_quantize(const float* w, int64_t rows, int64_t cols, GptqHessian& H, const IntGridSpec& grid,
                                 const GptqOptions& opt, GptqReport* report, ThreadPool* pool) {
  if (H.n() != cols) throw Error("", "hessian", "size does not match the weight's input dimension");
  if (grid.bits < 2 || grid.bits > 8) throw Error("", "bits", "integer grids take 2..8 bits");
  const int64_t gs = grid.group_size <= 0 ? cols : grid.group_size;
  // A last group narrower than gs is allowed (AutoGPTQ: ceil(cols / group_size) groups).
  const int maxq = grid.max_code();

  std::optional<PhaseScope> preparing(std::in_place, "gptq.prepare");
  std::vector<int64_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order)
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return H.gptq_diagonal(a) > H.gptq_diagonal(b); });
  gptq_detail::SweptWeight wt = gptq_detail::weight_in_order(w, rows, cols, perm, H, pool);
  GptqReport rep;
  rep.dead_columns = wt.dead;

  IntQuantizedMatrix out;
  out.rows = rows, out.cols = cols, out.spec = grid, out.n_groups = (cols + gs - 1) / gs;
  out.codes.resize(size_t(rows * cols));
  out.params.resize(size_t(rows * out.n_groups));
  out.g_idx.resize(size_t(cols));

  // Rows [r0, r1) of group `group`'s parameters, fitted from the ncols columns (in processing
  // order) from first_col.
  auto fit_group = [&](int64_t group, const float* first_col, int64_t ncols, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      out.params[size_t(r * out.n_groups + group)] = fit_int_params(first_col + r, ncols, rows, grid);
  };
  // Static groups (and per-channel grids) take their params from the weights as given (in their
  // original order, dead inputs zero).
  const bool fixed_groups = opt.static_groups || gs == cols;
  if (fixed_groups)
    gptq_detail::for_rows(pool, rows, rows * cols, [&](int64_t r0, int64_t r1, int) {
      std::vector<float> x(static_cast<size_t>(std::min(gs, cols)));
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t g = 0; g < out.n_groups; ++g) {
          const int64_t c0 = g * gs, width = std::min(gs, cols - c0);
          for (int64_t i = 0; i < width; ++i) x[size_t(i)] = H.dead(c0 + i) ? 0.0f : w[r * cols + c0 + i];
          out.params[size_t(r * out.n_groups + g)] = fit_int_params(x.data(), width, 1, grid);
        }
    });

  preparing.reset();
  Backend& be = H.backend();
  const GptqHessian::Factor& factor = H.factor(perm, opt.damp_percent);
  rep.damp_used = factor.damp;
  // A group's parameters are fitted from the gs columns it starts with.
  const int64_t reach = fixed_groups ? 1 : gs;
  // Static groups follow the original columns; the others processing order (with act-order:
  // g_idx records it).
  auto group_of = [&](int64_t col) { return fixed_groups ? perm[size_t(col)] / gs : col / gs; };
  for (int64_t col = 0; col < cols; ++col) out.g_idx[size_t(perm[size_t(col)])] = int32_t(group_of(col));
  // A GPU sweeps on the device (the same steps per row); elsewhere the host sweeps.
  GptqIntSweep spec;
  spec.max_code = maxq, spec.symmetric = grid.symmetric, spec.rule = grid.rule, spec.group_size = gs;
  spec.fixed_groups = fixed_groups, spec.block_size = opt.block_size;
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  const bool swept = !be.device().is_cpu() && [&] {
    const PhaseScope phase("gptq.sweep");
    return be.gptq_int_sweep(host_tensor(FormatId::F32, wt.data(), cols, rows), factor.u, spec, perm, out.params,
                             out.codes, row_loss);
  }();
  if (swept) {
    for (double l : row_loss) rep.loss += l;
  } else {
    rep.loss = gptq_detail::sweep(be, pool, wt.data(), rows, cols, factor.u, opt.block_size, reach,
                                  [&](int64_t col, int64_t r0, int64_t r1, int, const float* wc, float* q) {
      const int64_t orig = perm[size_t(col)], group = group_of(col);
      if (!fixed_groups && col % gs == 0) fit_group(group, wt.data() + col * rows, std::min(gs, cols - col), r0, r1);
      for (int64_t r = r0; r < r1; ++r) {
        const IntGroupParams& p = out.params[size_t(r * out.n_groups + group)];
        const int code = quantize_code(wc[r], p, maxq);
        out.codes[size_t(r * cols + orig)] = uint8_t(code);
        q[r] = dequantize_code(code, p);
      }
    });
  }
  if (report) *report = rep;
  return out;
}

}  // namespace quantlab
