// The matmul kernels against (a) the portable path, bit for bit, (b) a double-precision reference,
// and their determinism across thread counts and batch sizes.
#include "quantlab/backend/matmul.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace quantlab {
namespace {

struct Encoded {
  std::vector<uint8_t> bytes;
  std::vector<float> decoded;  // the exact values the encoded weights stand for
  WeightMatrix w;
};

Encoded make_weights(FormatId fmt, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> src(size_t(rows * cols));
  for (auto& v : src) v = dist(rng);
  Encoded e;
  const auto& f = format_traits(fmt);
  e.bytes.resize(row_bytes(fmt, cols) * size_t(rows));
  for (int64_t r = 0; r < rows; ++r)
    f.from_float(src.data() + r * cols, e.bytes.data() + size_t(r) * row_bytes(fmt, cols), cols, nullptr);
  e.decoded.resize(src.size());
  for (int64_t r = 0; r < rows; ++r)
    f.to_float(e.bytes.data() + size_t(r) * row_bytes(fmt, cols), e.decoded.data() + r * cols, cols);
  e.w = make_weight_matrix(fmt, e.bytes.data(), rows, cols);
  return e;
}

std::vector<float> make_activations(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  return x;
}

struct Case {
  FormatId fmt;
  int64_t rows, cols, tokens;
};

class MatmulTest : public ::testing::TestWithParam<Case> {};

TEST_P(MatmulTest, MatchesPortableBitwiseAndDoubleReference) {
  const Case c = GetParam();
  const Encoded e = make_weights(c.fmt, c.rows, c.cols, 17);
  const std::vector<float> x = make_activations(c.tokens * c.cols, 5);
  std::vector<float> ref(size_t(c.tokens * c.rows)), fast(ref.size()), fast3(ref.size());
  matmul_portable(e.w, x.data(), c.tokens, ref.data());
  ThreadPool one(1), three(3);
  matmul(one, e.w, x.data(), c.tokens, fast.data());
  matmul(three, e.w, x.data(), c.tokens, fast3.data());
  EXPECT_EQ(0, std::memcmp(ref.data(), fast.data(), ref.size() * 4)) << "SIMD kernel differs from the portable path";
  EXPECT_EQ(0, std::memcmp(fast.data(), fast3.data(), ref.size() * 4)) << "3 threads differ from 1";
  for (int64_t t = 0; t < c.tokens; ++t)
    for (int64_t r = 0; r < c.rows; ++r) {
      double exact = 0.0, mag = 0.0;
      for (int64_t k = 0; k < c.cols; ++k) {
        const double p = double(e.decoded[size_t(r * c.cols + k)]) * double(x[size_t(t * c.cols + k)]);
        exact += p;
        mag += std::fabs(p);
      }
      // Quantized formats see activations rounded to 8 bits, as in llama.cpp (error <= 1/254 of a block's max).
      const double tol = format_traits(c.fmt).is_quantized ? 5e-3 * mag : 1e-6 * mag + 1e-6;
      ASSERT_NEAR(fast[size_t(t * c.rows + r)], exact, tol) << "t=" << t << " r=" << r;
    }
}

// Decoded (non-integer-kernel) quantized formats: the activations are rounded through llama.cpp's
// vec_dot_type first (Q8_K for K-quants and IQ4_XS, Q8_0's values for Q5_1 and IQ4_NL), then the
// product is the f32 one; checked against a double-precision product with exactly that rounding.
TEST(MatmulActivationRounding, DecodedFormatsSeeLlamaCppsActivationRounding) {
  const std::pair<FormatId, FormatId> cases[] = {{FormatId::Q4_K, FormatId::Q8_K}, {FormatId::Q6_K, FormatId::Q8_K},
                                                 {FormatId::Q2_K, FormatId::Q8_K}, {FormatId::IQ4_XS, FormatId::Q8_K},
                                                 {FormatId::Q5_1, FormatId::Q8_0}, {FormatId::IQ4_NL, FormatId::Q8_0}};
  for (const auto& [fmt, act] : cases) {
    const int64_t rows = 8, cols = 512, tokens = 3;
    const Encoded e = make_weights(fmt, rows, cols, 11);
    const std::vector<float> x = make_activations(tokens * cols, 13);
    std::vector<float> rounded(x.size());
    std::vector<uint8_t> packed(row_bytes(act, cols));
    for (int64_t t = 0; t < tokens; ++t) {
      format_traits(act).from_float(x.data() + t * cols, packed.data(), cols, nullptr);
      format_traits(act).to_float(packed.data(), rounded.data() + t * cols, cols);
    }
    ThreadPool pool(2);
    std::vector<float> y(size_t(tokens * rows));
    matmul(pool, e.w, x.data(), tokens, y.data());
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t r = 0; r < rows; ++r) {
        double with_rounding = 0, plain = 0, mag = 0;
        for (int64_t k = 0; k < cols; ++k) {
          const double w = e.decoded[size_t(r * cols + k)];
          with_rounding += w * rounded[size_t(t * cols + k)];
          plain += w * x[size_t(t * cols + k)];
          mag += std::fabs(w * x[size_t(t * cols + k)]);
        }
        ASSERT_NEAR(y[size_t(t * rows + r)], with_rounding, 1e-6 * mag) << format_traits(fmt).name << " t=" << t;
        // ... and that rounding is visible (the test would pass without it otherwise).
        if (t == 0 && r == 0) {
          EXPECT_GT(std::fabs(plain - with_rounding), 1e-5 * mag) << format_traits(fmt).name;
        }
      }
    }
  }
}

TEST_P(MatmulTest, EachTokenOfABatchEqualsThatTokenAlone) {
  const Case c = GetParam();
  const Encoded e = make_weights(c.fmt, c.rows, c.cols, 3);
  const std::vector<float> x = make_activations(c.tokens * c.cols, 9);
  ThreadPool pool(2);
  std::vector<float> batch(size_t(c.tokens * c.rows)), single(size_t(c.rows));
  matmul(pool, e.w, x.data(), c.tokens, batch.data());
  for (int64_t t = 0; t < c.tokens; ++t) {
    matmul(pool, e.w, x.data() + t * c.cols, 1, single.data());
    ASSERT_EQ(0, std::memcmp(single.data(), batch.data() + t * c.rows, single.size() * 4)) << "token " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, MatmulTest,
    ::testing::Values(Case{FormatId::F32, 37, 100, 1}, Case{FormatId::F32, 37, 100, 7},
                      Case{FormatId::F32, 130, 1300, 9}, Case{FormatId::F16, 37, 100, 3},
                      Case{FormatId::F16, 70, 1100, 13}, Case{FormatId::F16, 70, 1100, 2},
                      Case{FormatId::BF16, 19, 48, 5}, Case{FormatId::BF16, 70, 1100, 10},
                      Case{FormatId::BF16, 64, 256, 1}, Case{FormatId::Q4_0, 40, 96, 1},
                      Case{FormatId::Q4_0, 70, 1152, 9}, Case{FormatId::Q4_1, 70, 1152, 9}, Case{FormatId::Q4_1, 33, 64, 1},
                      Case{FormatId::Q5_0, 70, 1152, 6}, Case{FormatId::Q8_0, 70, 1152, 5}, Case{FormatId::Q8_0, 17, 32, 1},
                      Case{FormatId::Q6_K, 40, 512, 9}, Case{FormatId::Q4_K, 40, 512, 2}),
    [](const ::testing::TestParamInfo<Case>& i) {
      return std::string(format_traits(i.param.fmt).name) + "_" + std::to_string(i.param.rows) + "x" +
             std::to_string(i.param.cols) + "_t" + std::to_string(i.param.tokens);
    });

TEST(DotF32, SumsInTheDocumentedOrder) {
  // 16 lanes, lane i holds elements i, i+16, ...; lanes summed pairwise (i, i+8), (i, i+4), ...
  std::vector<float> a(37), b(37, 1.0f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.1f + 1e7f * float(i % 3 == 0);
  float lanes[16] = {};
  for (size_t k = 0; k < a.size(); ++k) lanes[k % 16] = std::fma(a[k], b[k], lanes[k % 16]);
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = lanes[i] + lanes[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  const float expect = (s4[0] + s4[2]) + (s4[1] + s4[3]);
  EXPECT_EQ(expect, dot_f32(a.data(), b.data(), int64_t(a.size())));
}

TEST(WeightMatrix, RejectsRowsNotAMultipleOfTheBlock) {
  // F32 has block size 1, so every width is valid; an unknown format id is refused.
  EXPECT_THROW(make_weight_matrix(FormatId(999), nullptr, 1, 1), Error);
}

}  // namespace
}  // namespace quantlab
