// Round-to-nearest quality of the 4-bit codes on Gaussian weights: NF4 below FP4, and NF4 at the
// level the literature puts it. Yoshida (2023, "NF4 isn't information theoretically optimal",
// arXiv:2306.06965) derives AF4, the code that minimizes the expected L1 reconstruction error of
// absmax-scaled N(0,1) blocks of 64 (bitsandbytes ships it as get_4bit_type("af4")), and reports
// that NF4 and AF4 perform about equally at such small block sizes. Here NF4's L1 error must be
// within 5 % of AF4's (measured: NF4 0.0729, AF4 0.0752, i.e. 3 % better; NF4 RMSE 0.092 sigma) and
// FP4's clearly worse (0.0968).
#include "quantlab/quant/bnb_4bit.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace quantlab::bnb;

namespace {

struct Errors {
  double l1 = 0, rmse = 0;
};

std::vector<float> gaussian(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> w(n);
  for (auto& v : w) v = float(normal(rng));
  return w;
}

Errors errors(const std::vector<float>& w, const std::vector<float>& r) {
  Errors e;
  for (size_t i = 0; i < w.size(); ++i) {
    const double d = double(w[i]) - r[i];
    e.l1 += std::fabs(d);
    e.rmse += d * d;
  }
  e.l1 /= double(w.size());
  e.rmse = std::sqrt(e.rmse / double(w.size()));
  return e;
}

Errors bnb_errors(const std::vector<float>& w, QuantType t, int64_t block) {
  const auto q = quantize_4bit(w.data(), {int64_t(w.size())}, {t, block, false}, SourceDtype::F32);
  return errors(w, dequantize_4bit(q));
}

// AF4 for block size 64 (the paper's table, as bitsandbytes lists it), nearest-value rounding.
Errors af4_errors(const std::vector<float>& w, int64_t block) {
  static constexpr double kAf4[16] = {-1.0, -0.69441008, -0.51243739, -0.3736951, -0.25607552, -0.14982478,
                                      -0.04934812, 0.0, 0.04273164, 0.12934483, 0.21961274, 0.31675666,
                                      0.42563882, 0.55496234, 0.72424863, 1.0};
  std::vector<float> r(w.size());
  for (size_t b = 0; b < w.size(); b += size_t(block)) {
    double absmax = 0;
    for (size_t i = b; i < b + size_t(block); ++i) absmax = std::max(absmax, std::fabs(double(w[i])));
    for (size_t i = b; i < b + size_t(block); ++i) {
      const double x = w[i] / absmax;
      double best = kAf4[0];
      for (double c : kAf4)
        if (std::fabs(x - c) < std::fabs(x - best)) best = c;
      r[i] = float(best * absmax);
    }
  }
  return errors(w, r);
}

}  // namespace

TEST(BnbQuality, Nf4BeatsFp4AndMatchesTheL1OptimalCodeOnGaussianWeights) {
  const auto w = gaussian(size_t(1) << 18, 42);
  const Errors nf4 = bnb_errors(w, QuantType::NF4, 64);
  const Errors fp4 = bnb_errors(w, QuantType::FP4, 64);
  const Errors af4 = af4_errors(w, 64);
  RecordProperty("nf4_rmse", std::to_string(nf4.rmse));
  RecordProperty("fp4_rmse", std::to_string(fp4.rmse));
  RecordProperty("nf4_l1", std::to_string(nf4.l1));
  RecordProperty("af4_l1", std::to_string(af4.l1));
  std::printf("N(0,1), block 64: NF4 rmse %.4f l1 %.4f | FP4 rmse %.4f l1 %.4f | AF4 l1 %.4f\n", nf4.rmse, nf4.l1,
              fp4.rmse, fp4.l1, af4.l1);
  EXPECT_LT(nf4.rmse, fp4.rmse * 0.95);
  EXPECT_LT(nf4.l1, fp4.l1 * 0.95);
  EXPECT_LT(nf4.l1, af4.l1 * 1.05);
  EXPECT_GT(nf4.l1, af4.l1 * 0.95);
}

TEST(BnbQuality, LargerBlocksCostAccuracy) {
  const auto w = gaussian(size_t(1) << 16, 7);
  const double e64 = bnb_errors(w, QuantType::NF4, 64).rmse;
  const double e256 = bnb_errors(w, QuantType::NF4, 256).rmse;
  const double e4096 = bnb_errors(w, QuantType::NF4, 4096).rmse;
  EXPECT_LT(e64, e256);
  EXPECT_LT(e256, e4096);
}

TEST(BnbQuality, DoubleQuantizationBarelyChangesTheWeights) {
  // QLoRA: double quantization saves ~0.37 bits per weight at no measurable quality cost.
  const auto w = gaussian(size_t(1) << 18, 3);
  const auto plain = quantize_4bit(w.data(), {int64_t(w.size())}, {QuantType::NF4, 64, false}, SourceDtype::F32);
  const auto dq = quantize_4bit(w.data(), {int64_t(w.size())}, {QuantType::NF4, 64, true}, SourceDtype::F32);
  const double e_plain = errors(w, dequantize_4bit(plain)).rmse, e_dq = errors(w, dequantize_4bit(dq)).rmse;
  EXPECT_LT(e_dq, e_plain * 1.01);
  const double bits_plain = 4.0 + 32.0 / 64.0;
  const double bits_dq = 4.0 + 8.0 / 64.0 + 32.0 / (64.0 * 256.0);
  EXPECT_NEAR(bits_plain - bits_dq, 0.373, 0.001);
}
