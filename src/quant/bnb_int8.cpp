#include "quantlab/quant/bnb_int8.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/quant/bnb_gpu_math.hpp"

#include <algorithm>
#include <cmath>

namespace quantlab::bnb {
namespace {

float to_f16(float x) { return fp16_to_f32(f32_to_fp16(x)); }

void check_input(const float* x, int64_t n, const std::string& source) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]) || std::fabs(x[i]) > 65504.0f)
      throw Error(source, "value " + std::to_string(i), "is not finite in f16; LLM.int8 quantizes f16 values");
}

// One row as kInt8VectorQuant does it. `threshold` > 0 leaves |x| >= threshold out of the absmax and
// zeroes those values' codes.
void quantize_row(const float* x, int64_t cols, float threshold, int8_t* codes, float* absmax_out) {
  // The kernel keeps the running max in f16 and compares against the threshold rounded to f16.
  const float threshold_f16 = to_f16(threshold);
  float absmax = 0.0f;
  for (int64_t c = 0; c < cols; ++c) {
    const float a = std::fabs(to_f16(x[c]));
    if (threshold > 0 && !(a < threshold_f16)) continue;
    absmax = std::max(absmax, a);
  }
  *absmax_out = absmax;
  const float scale = gpu_fast_divide(127.0f, absmax);  // inf for a zero row: 0 * inf -> NaN -> 0
  for (int64_t c = 0; c < cols; ++c) {
    const float v = to_f16(x[c]);
    if (threshold > 0 && !(std::fabs(v) < threshold)) {
      codes[c] = 0;
      continue;
    }
    codes[c] = int8_t(gpu_float_to_int_rn(flush_denormal(v * scale)));
  }
}

}  // namespace

Int8Rows quantize_int8_rows(const float* x, int64_t rows, int64_t cols, const std::string& source) {
  if (rows <= 0 || cols <= 0) throw Error(source, "shape", "an int8 matrix needs positive rows and cols");
  check_input(x, rows * cols, source);
  Int8Rows q;
  q.rows = rows;
  q.cols = cols;
  q.codes.resize(size_t(rows * cols));
  q.absmax.resize(size_t(rows));
  for (int64_t r = 0; r < rows; ++r) quantize_row(x + r * cols, cols, 0.0f, &q.codes[size_t(r * cols)], &q.absmax[size_t(r)]);
  return q;
}

Int8Activations quantize_int8_activations(const float* x, int64_t rows, int64_t cols, float threshold) {
  if (rows <= 0 || cols <= 0) throw Error("", "activations", "need positive rows and cols");
  check_input(x, rows * cols, "activations");
  Int8Activations a;
  a.q.rows = rows;
  a.q.cols = cols;
  a.q.codes.resize(size_t(rows * cols));
  a.q.absmax.resize(size_t(rows));
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(x + r * cols, cols, threshold, &a.q.codes[size_t(r * cols)], &a.q.absmax[size_t(r)]);
  if (threshold > 0) {
    // torch compares the f16 tensor with the threshold converted to f16.
    const float threshold_f16 = to_f16(threshold);
    for (int64_t c = 0; c < cols; ++c) {
      bool outlier = false;
      for (int64_t r = 0; r < rows && !outlier; ++r) outlier = std::fabs(to_f16(x[r * cols + c])) >= threshold_f16;
      if (!outlier) continue;
      a.outlier_cols.push_back(c);
      for (int64_t r = 0; r < rows; ++r) a.q.codes[size_t(r * cols + c)] = 0;
    }
  }
  return a;
}

std::vector<float> dequantize_int8_rows(const Int8Rows& w) {
  const float inv127 = float(7.874015718698502e-3);  // the Python constant, as torch casts it to f32
  std::vector<float> out(w.codes.size());
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c)
      out[size_t(r * w.cols + c)] = (float(w.codes[size_t(r * w.cols + c)]) * w.absmax[size_t(r)]) * inv127;
  return out;
}

std::vector<float> int8_linear(const float* x, int64_t tokens, const Int8Rows& w, const float* bias, float threshold) {
  const int64_t in = w.cols, out = w.rows;
  const Int8Activations a = quantize_int8_activations(x, tokens, in, threshold);
  // Weight columns of the outliers, dequantized and cast to the activation dtype (f16).
  const std::vector<float> wdq = a.outlier_cols.empty() ? std::vector<float>{} : dequantize_int8_rows(w);
  constexpr float kMmDequant = 6.200012e-05f;  // bitsandbytes' MM_DEQUANT_CONST, ~1/127^2
  std::vector<float> y(size_t(tokens * out));
  for (int64_t t = 0; t < tokens; ++t) {
    const int8_t* xa = &a.q.codes[size_t(t * in)];
    for (int64_t o = 0; o < out; ++o) {
      const int8_t* wr = &w.codes[size_t(o * in)];
      int32_t acc = 0;
      for (int64_t c = 0; c < in; ++c) acc += int32_t(xa[c]) * int32_t(wr[c]);
      const float b = bias ? to_f16(bias[o]) : 0.0f;
      float v = std::fma(float(acc) * a.q.absmax[size_t(t)] * w.absmax[size_t(o)], kMmDequant, b);
      for (int64_t c : a.outlier_cols)
        v += to_f16(x[t * in + c]) * to_f16(wdq[size_t(o * in + c)]);
      y[size_t(t * out + o)] = v;
    }
  }
  return y;
}

}  // namespace quantlab::bnb
