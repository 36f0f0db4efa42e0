#include "quantlab/quant/awq.hpp"
#include "quantlab/backend/matmul.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace quantlab {
namespace {

int64_t group_width(const IntGridSpec& grid, int64_t cols) { return grid.group_size <= 0 ? cols : grid.group_size; }

// Pseudo-quantization of one group of n values in place: fit, round, dequantize.
void fake_quantize_group(float* v, int64_t n, const IntGridSpec& grid) {
  const IntGroupParams p = fit_int_params(v, n, 1, grid);
  for (int64_t i = 0; i < n; ++i) v[i] = dequantize_code(quantize_code(v[i], p, grid.max_code()), p);
}

}  // namespace

std::vector<int64_t> strided_tokens(int64_t n_tokens, int64_t limit) {
  const int64_t step = limit > 0 ? std::max<int64_t>(1, n_tokens / limit) : 1;
  std::vector<int64_t> idx;
  for (int64_t t = 0; t < n_tokens; t += step) idx.push_back(t);
  return idx;
}

AwqScaleResult awq_search_scales(ThreadPool& pool, const float* x, int64_t n_tokens, int64_t cols,
                                 const std::vector<float>& x_abs_mean, const std::vector<AwqLinear>& linears,
                                 const IntGridSpec& grid, const AwqOptions& options) {
  const int64_t gs = group_width(grid, cols);
  if (int64_t(x_abs_mean.size()) != cols) throw Error("awq", "x_abs_mean", "size differs from the input width");
  int64_t total_rows = 0;
  for (const auto& l : linears) total_rows += l.rows;

  // Mean over output rows of |w| relative to its group's largest |w|.
  std::vector<double> w_mean(size_t(cols), 0.0);
  for (const auto& l : linears)
    for (int64_t r = 0; r < l.rows; ++r)
      for (int64_t g = 0; g * gs < cols; ++g) {
        const float* src = l.w + r * cols + g * gs;
        const int64_t width = std::min(gs, cols - g * gs);
        float amax = 0;
        for (int64_t i = 0; i < width; ++i) amax = std::max(amax, std::fabs(src[i]));
        for (int64_t i = 0; i < width; ++i) w_mean[size_t(g * gs + i)] += std::fabs(src[i]) / (amax + 1e-6f);
      }
  for (auto& v : w_mean) v /= double(total_rows);

  // Outputs of all linears for tokens [t0, t0 + nt), token-major: y[t][row of the group].
  auto run_all = [&](const std::vector<const float*>& ws, int64_t t0, int64_t nt, float* y, std::vector<float>& part) {
    int64_t row0 = 0;
    for (size_t i = 0; i < linears.size(); ++i) {
      part.resize(size_t(nt * linears[i].rows));
      matmul(pool, make_weight_matrix(FormatId::F32, ws[i], linears[i].rows, cols), x + t0 * cols, nt, part.data());
      for (int64_t t = 0; t < nt; ++t)
        std::copy(part.begin() + t * linears[i].rows, part.begin() + (t + 1) * linears[i].rows,
                  y + t * total_rows + row0);
      row0 += linears[i].rows;
    }
  };
  // The candidates' outputs are formed and compared a chunk of tokens at a time: only the reference
  // is kept whole (for gate/up over 4096 tokens, two more buffers of its size were ~75 MiB). A
  // matmul's result per token does not depend on how many tokens it is given, and the loss is summed
  // in the same token order, so chunking changes no bit of the result.
  constexpr int64_t kChunk = 256;
  std::vector<float> reference(size_t(n_tokens * total_rows)), out, part;
  std::vector<const float*> originals;
  for (const auto& l : linears) originals.push_back(l.w);
  run_all(originals, 0, n_tokens, reference.data(), part);

  AwqScaleResult best;
  best.loss = std::numeric_limits<double>::infinity();
  best.ratio = -1;
  std::vector<float> scales(static_cast<size_t>(cols));
  std::vector<std::vector<float>> scaled(linears.size());
  for (int step = 0; step < options.n_grid; ++step) {
    const double ratio = double(step) / options.n_grid;
    for (int64_t c = 0; c < cols; ++c) {
      const float xm = std::pow(x_abs_mean[size_t(c)], float(ratio));
      const float s = options.duo_scaling ? xm / (std::pow(float(w_mean[size_t(c)]), float(1 - ratio)) + 1e-4f) : xm;
      scales[size_t(c)] = std::max(s, 1e-4f);
    }
    const auto [mn, mx] = std::minmax_element(scales.begin(), scales.end());
    const float norm = std::sqrt(*mx * *mn);
    for (auto& s : scales) s /= norm;
    std::vector<const float*> ws;
    for (size_t i = 0; i < linears.size(); ++i) {
      auto& w = scaled[i];
      w.assign(linears[i].w, linears[i].w + linears[i].rows * cols);
      for (int64_t r = 0; r < linears[i].rows; ++r) {
        float* row = w.data() + r * cols;
        for (int64_t c = 0; c < cols; ++c) row[c] *= scales[size_t(c)];
        for (int64_t g = 0; g * gs < cols; ++g) fake_quantize_group(row + g * gs, std::min(gs, cols - g * gs), grid);
        for (int64_t c = 0; c < cols; ++c) row[c] /= scales[size_t(c)];
      }
      ws.push_back(w.data());
    }
    double loss = 0;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kChunk) {
      const int64_t nt = std::min(kChunk, n_tokens - t0);
      out.resize(size_t(nt * total_rows));
      run_all(ws, t0, nt, out.data(), part);
      const float* ref = reference.data() + t0 * total_rows;
      for (size_t i = 0; i < out.size(); ++i) {
        const double d = double(ref[i]) - double(out[i]);
        loss += d * d;
      }
    }
    loss /= double(reference.size());
    if (loss < best.loss) {
      best.loss = loss;
      best.ratio = ratio;
      best.scales = scales;
    }
  }
  if (best.ratio < 0) throw Error("awq", "scales", "no finite loss for any scale ratio (non-finite activations?)");
  return best;
}

void awq_clip(ThreadPool& pool, float* w, int64_t rows, int64_t cols, const float* x, int64_t n_tokens,
              const IntGridSpec& grid, const AwqOptions& options) {
  const int64_t gs = group_width(grid, cols);
  const int64_t n_groups = (cols + gs - 1) / gs;
  const std::vector<int64_t> tokens = strided_tokens(n_tokens, options.clip_tokens);
  const int64_t nt = int64_t(tokens.size());
  const int n_shrink = int(options.max_shrink * options.clip_grid);
  // Each (row, group) is independent: rows are split across threads, one fixed order per row.
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> candidate(static_cast<size_t>(gs)), reference(static_cast<size_t>(nt));
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t g = 0; g < n_groups; ++g) {
        float* src = w + r * cols + g * gs;
        const int64_t width = std::min(gs, cols - g * gs);
        float amax = 0;
        for (int64_t i = 0; i < width; ++i) amax = std::max(amax, std::fabs(src[i]));
        for (int64_t t = 0; t < nt; ++t) {
          const float* xt = x + tokens[size_t(t)] * cols + g * gs;
          float acc = 0;
          for (int64_t i = 0; i < width; ++i) acc += xt[i] * src[i];
          reference[size_t(t)] = acc;
        }
        double best_err = std::numeric_limits<double>::infinity();
        float best_max = amax;
        for (int k = 0; k < n_shrink; ++k) {
          const float max_val = amax * (1.0f - float(k) / float(options.clip_grid));
          for (int64_t i = 0; i < width; ++i) candidate[size_t(i)] = std::clamp(src[i], -max_val, max_val);
          fake_quantize_group(candidate.data(), width, grid);
          double err = 0;
          for (int64_t t = 0; t < nt; ++t) {
            const float* xt = x + tokens[size_t(t)] * cols + g * gs;
            float acc = 0;
            for (int64_t i = 0; i < width; ++i) acc += xt[i] * candidate[size_t(i)];
            const double d = double(acc) - double(reference[size_t(t)]);
            err += d * d;
          }
          if (err < best_err) best_err = err, best_max = max_val;
        }
        for (int64_t i = 0; i < width; ++i) src[i] = std::clamp(src[i], -best_max, best_max);
      }
  });
}

}  // namespace quantlab
