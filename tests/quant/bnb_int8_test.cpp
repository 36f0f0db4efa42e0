// LLM.int8 against real bitsandbytes 0.50.2 (CUDA, H100): fixtures from tools/make-bnb-fixtures.py.
#include "bnb_fixture_support.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/quant/bnb_int8.hpp"
#include "quantlab/quant/bnb_serialize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace quantlab;
using namespace quantlab::bnb;
using quantlab::test::bnb_fixture_dir;

namespace {

const test::SafetensorsFile& fixtures() {
  static const auto f = test::read_safetensors(bnb_fixture_dir() / "fixtures.safetensors");
  return f;
}
const nlohmann::json& meta() {
  static const auto m = test::read_json(bnb_fixture_dir() / "meta.json");
  return m;
}
std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}
Int8Rows reference_weight() { return quantize_int8_rows(fixtures().floats("in8.weight").data(), 16, 128); }

}  // namespace

TEST(BnbInt8, WeightRowsMatchBitsandbytes) {
  const auto& fx = fixtures();
  const Int8Rows w = reference_weight();
  EXPECT_EQ(w.codes, fx.values<int8_t>("i8.CB"));
  EXPECT_EQ(bits_of(w.absmax), fx.values<uint32_t>("i8.SCB"));
  const auto deq = dequantize_int8_rows(w);
  EXPECT_EQ(sha256_hex(deq.data(), deq.size() * 4), meta().at("i8_dequant_sha256").get<std::string>());
}

TEST(BnbInt8, ActivationQuantizationWithAndWithoutOutliers) {
  const auto& fx = fixtures();
  const auto x = fx.floats("in8.x");
  for (int t : {0, 6}) {
    SCOPED_TRACE(t);
    const std::string p = "i8.x.t" + std::to_string(t);
    const auto a = quantize_int8_activations(x.data(), 6, 128, float(t));
    EXPECT_EQ(a.q.codes, fx.values<int8_t>(p + ".CA"));
    EXPECT_EQ(bits_of(a.q.absmax), fx.values<uint32_t>(p + ".SCA"));
    EXPECT_EQ(a.outlier_cols, fx.values<int64_t>(p + ".cols"));
  }
}

TEST(BnbInt8, LinearWithoutThresholdIsBitExactAfterF16Rounding) {
  // threshold 0: bitsandbytes' whole output is one f16 rounding of fma(acc*SCA*SCB, 1/127^2, bias).
  const auto& fx = fixtures();
  const auto x = fx.floats("in8.x");
  const auto bias = fx.floats("in8.bias");
  const auto y = int8_linear(x.data(), 6, reference_weight(), bias.data(), 0.0f);
  const auto ref = fx.values<uint16_t>("i8.linear.t0.y");
  ASSERT_EQ(y.size(), ref.size());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(f32_to_fp16(y[i]), ref[i]) << "output " << i;
}

TEST(BnbInt8, LinearWithOutliersMatchesWithinHalfPrecision) {
  // threshold 6: bitsandbytes rounds the int8 part to f16, then adds the outlier columns with an
  // f16 GEMM (cuBLAS); quantlab keeps f32. The parts reach |6| on this input and cancel, so the
  // two agree to about one f16 ulp of the parts (2^-8 at magnitude 4..8).
  const auto& fx = fixtures();
  const auto x = fx.floats("in8.x");
  const auto bias = fx.floats("in8.bias");
  const Int8Rows w = reference_weight();
  const auto y = int8_linear(x.data(), 6, w, bias.data(), 6.0f);
  const auto ref = fx.floats("i8.linear.t6.y");
  const auto no_outliers = int8_linear(x.data(), 6, w, bias.data(), 0.0f);
  double max_err = 0, max_shift = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (!std::isfinite(ref[i])) continue;  // row 7 holds 65504: bitsandbytes' f16 output overflows
    const double tol = 0x1p-8 * std::max(1.0, std::fabs(double(ref[i])));
    EXPECT_NEAR(y[i], ref[i], tol) << "output " << i << " (without outliers " << no_outliers[i] << ")";
    max_err = std::max(max_err, std::fabs(double(y[i]) - ref[i]));
    max_shift = std::max(max_shift, std::fabs(double(y[i]) - no_outliers[i]));
  }
  // The outlier path must matter on this input, or the comparison above proves nothing about it.
  EXPECT_GT(max_shift, 20 * max_err);
}

TEST(BnbInt8, LinearApproximatesTheFloatProduct) {
  const auto& fx = fixtures();
  const auto x = fx.floats("in8.x");
  const auto wf = fx.floats("in8.weight");
  const auto y = int8_linear(x.data(), 6, reference_weight(), nullptr, 6.0f);
  double num = 0, den = 0;
  for (int t = 0; t < 6; ++t)
    for (int o = 0; o < 16; ++o) {
      double exact = 0;
      for (int c = 0; c < 128; ++c) exact += double(x[size_t(t * 128 + c)]) * wf[size_t(o * 128 + c)];
      num += (y[size_t(t * 16 + o)] - exact) * (y[size_t(t * 16 + o)] - exact);
      den += exact * exact;
    }
  EXPECT_LT(std::sqrt(num / den), 0.02);
}

TEST(BnbInt8, ExportMatchesLinear8bitLtStateDict) {
  const auto file = test::read_safetensors(bnb_fixture_dir() / "linear8bit_state.safetensors");
  const auto tensors = export_int8("", reference_weight());
  ASSERT_EQ(tensors.size(), 3u);
  for (const auto& t : tensors) {
    SCOPED_TRACE(t.name);
    const auto& ref = file.at(t.name);
    EXPECT_EQ(t.dtype, ref.dtype);
    EXPECT_EQ(t.shape, ref.shape);
    EXPECT_EQ(t.bytes, ref.bytes);
  }
  const Int8Rows back = import_int8("", file.lookup(), "linear8bit_state.safetensors");
  EXPECT_EQ(back.codes, reference_weight().codes);
}

TEST(BnbInt8, TransformersSavedLayerIsReproduced) {
  // model.layers.0.mlp.down_proj of a tiny Llama saved by transformers 5.17 with load_in_8bit.
  const auto& fx = fixtures();
  const auto w16 = fx.floats("hf.down_proj.f16");
  const auto tensors = export_int8("hf.int8.", quantize_int8_rows(w16.data(), 64, 128));
  for (const auto& t : tensors) {
    SCOPED_TRACE(t.name);
    const auto& ref = fx.at(t.name);
    EXPECT_EQ(t.dtype, ref.dtype);
    EXPECT_EQ(t.shape, ref.shape);
    EXPECT_EQ(t.bytes, ref.bytes);
  }
  const auto keys = meta().at("hf").at("int8").at("keys");
  EXPECT_TRUE(keys.contains("model.layers.0.mlp.down_proj.SCB"));
  EXPECT_TRUE(keys.contains("model.layers.0.mlp.down_proj.weight_format"));
}

TEST(BnbInt8, ZeroRowAndBadInput) {
  std::vector<float> w(2 * 4, 0.0f);
  w[4] = 1.0f;
  const auto q = quantize_int8_rows(w.data(), 2, 4);
  EXPECT_EQ(q.absmax[0], 0.0f);
  EXPECT_EQ(q.codes[0], 0);
  EXPECT_EQ(q.codes[4], 127);
  w[1] = INFINITY;
  EXPECT_THROW(quantize_int8_rows(w.data(), 2, 4, "w"), Error);
  w[1] = 70000.0f;  // not an f16
  EXPECT_THROW(quantize_int8_rows(w.data(), 2, 4, "w"), Error);
  bnb::NamedTensor bad{"weight", "I8", {2, 4}, std::vector<uint8_t>(7)};
  const bnb::TensorLookup lookup = [&](const std::string& n) { return n == "weight" ? &bad : nullptr; };
  EXPECT_THROW(import_int8("", lookup, "f.safetensors"), Error);
}
