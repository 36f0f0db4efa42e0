// A model with a NaN scale, or activations that overflow to infinity, must give NaN logits, never
// undefined behaviour (fuzz/commands found `int8_t(nearbyint(NaN))` in the 8-bit activation
// rounding; UBSan in tools/test's sanitizer build turns a regression into a failure here).
#include "quantlab/backend/matmul.hpp"
#include "quantlab/formats/format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace quantlab {
namespace {

TEST(NonFiniteActivations, QuantizedMatmulGivesNanInsteadOfUndefinedBehaviour) {
  const int64_t rows = 4, cols = 64;
  std::vector<float> w(size_t(rows * cols));
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(int(i % 7) - 3) * 0.125f;
  for (FormatId f : {FormatId::Q8_0, FormatId::Q4_0, FormatId::Q4_K}) {
    const int64_t c = f == FormatId::Q4_K ? 256 : cols;
    std::vector<float> wc(size_t(rows * c));
    for (size_t i = 0; i < wc.size(); ++i) wc[i] = w[i % w.size()];
    std::vector<uint8_t> bytes(row_bytes(f, c) * size_t(rows));
    for (int64_t r = 0; r < rows; ++r)
      format_traits(f).from_float(wc.data() + r * c, bytes.data() + size_t(r) * row_bytes(f, c), c, nullptr);
    std::vector<float> x(static_cast<size_t>(c), 0.5f), y(static_cast<size_t>(rows));
    x[3] = std::numeric_limits<float>::quiet_NaN();
    x[5] = std::numeric_limits<float>::infinity();
    ThreadPool pool(1);
    matmul(pool, make_weight_matrix(f, bytes.data(), rows, c), x.data(), 1, y.data());
    for (float v : y) EXPECT_FALSE(std::isfinite(v)) << format_traits(f).name;
    matmul_portable(make_weight_matrix(f, bytes.data(), rows, c), x.data(), 1, y.data());
    for (float v : y) EXPECT_FALSE(std::isfinite(v)) << format_traits(f).name << " (portable)";
  }
}

}  // namespace
}  // namespace quantlab
