// NF4/FP4 against real bitsandbytes 0.50.2 (CUDA, H100): fixtures from tools/make-bnb-fixtures.py.
#include "bnb_fixture_support.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/quant/bnb_4bit.hpp"
#include "quantlab/quant/bnb_gpu_math.hpp"
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

SourceDtype dtype_of_tag(const std::string& d) {
  return d == "f32" ? SourceDtype::F32 : d == "f16" ? SourceDtype::F16 : SourceDtype::BF16;
}

// The bytes bitsandbytes' dequantize_4bit returns: the tensor in its dtype.
std::string dequant_sha(const std::vector<float>& v, SourceDtype d) {
  if (d == SourceDtype::F32) return sha256_hex(v.data(), v.size() * 4);
  std::vector<uint16_t> h;
  for (float x : v) h.push_back(d == SourceDtype::F16 ? f32_to_fp16(x) : f32_to_bf16(x));
  return sha256_hex(h.data(), h.size() * 2);
}

std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}

struct Case {
  std::string tag;  // e.g. "s.f16.nf4.64.dq"
  std::string dtype, type;
  int64_t block;
  bool dq;
};

Case parse_tag(const std::string& tag) {
  Case c{tag, "", "", 0, false};
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t p; (p = tag.find('.', start)) != std::string::npos; start = p + 1) parts.push_back(tag.substr(start, p - start));
  parts.push_back(tag.substr(start));
  c.dtype = parts[1];
  c.type = parts[2];
  c.block = std::stoll(parts[3]);
  c.dq = parts[4] == "dq";
  return c;
}

// Checks one fixture case; the input is either the stored special tensor or the generated stream.
void check_case(const Case& c, const std::vector<float>& input, std::vector<int64_t> shape) {
  SCOPED_TRACE(c.tag);
  const auto& fx = fixtures();
  const auto& info = meta().at("cases4").at(c.tag);
  const Spec4bit spec{parse_quant_type(c.type), c.block, c.dq};
  const SourceDtype dtype = dtype_of_tag(c.dtype);
  Quantized4bit q = quantize_4bit(input.data(), shape, spec, dtype);

  // Packed codes: in full where stored, else by hash.
  if (fx.has(c.tag + ".packed")) {
    const auto ref = fx.values<uint8_t>(c.tag + ".packed");
    ASSERT_EQ(ref.size(), q.packed.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < ref.size(); ++i) mismatches += ref[i] != q.packed[i];
    EXPECT_EQ(mismatches, 0u) << "packed bytes differing from bitsandbytes";
  }
  EXPECT_EQ(sha256_hex(q.packed.data(), q.packed.size()), info.at("packed_sha256").get<std::string>());

  if (!c.dq) {
    EXPECT_EQ(bits_of(q.absmax), fx.values<uint32_t>(c.tag + ".absmax"));
  } else {
    // The offset is torch's float32 mean on the GPU, reproduced addition by addition.
    const float ref_offset = fx.floats(c.tag + ".offset")[0];
    EXPECT_EQ(f32_bits(q.nested_offset), f32_bits(ref_offset)) << q.nested_offset << " vs " << ref_offset;
    const auto with_ref_offset = quantize_4bit_with_offset(input.data(), shape, spec, dtype, ref_offset);
    EXPECT_EQ(with_ref_offset.nested.codes, q.nested.codes);
    EXPECT_EQ(q.nested.codes, fx.values<uint8_t>(c.tag + ".absmax"));
    EXPECT_EQ(bits_of(q.nested.absmax), fx.values<uint32_t>(c.tag + ".nested_absmax"));
    EXPECT_EQ(bits_of(q.block_absmax()), fx.values<uint32_t>(c.tag + ".absmax_dequantized"));
    EXPECT_EQ(python_float_repr(double(q.nested_offset)), info.at("offset_repr").get<std::string>());
  }
  const auto deq = dequantize_4bit(q);
  if (fx.has(c.tag + ".dequant")) {
    EXPECT_EQ(bits_of(deq), fx.values<uint32_t>(c.tag + ".dequant"));
  }
  EXPECT_EQ(dequant_sha(deq, dtype), info.at("dequant_sha256").get<std::string>());
}

}  // namespace

TEST(Bnb4bit, CodeTablesAreBitsandbytes) {
  const auto& fx = fixtures();
  const auto nf4 = quant_map(QuantType::NF4), fp4 = quant_map(QuantType::FP4);
  EXPECT_EQ(bits_of({nf4.begin(), nf4.end()}), fx.values<uint32_t>("table.nf4"));
  EXPECT_EQ(bits_of({fp4.begin(), fp4.end()}), fx.values<uint32_t>("table.fp4"));
  const auto& dyn = dynamic_map_signed();
  EXPECT_EQ(bits_of({dyn.begin(), dyn.end()}), fx.values<uint32_t>("table.dynamic_signed"));
}

TEST(Bnb4bit, DecisionTreesTieToTheLowerCode) {
  // A value equal to a threshold takes the lower code; the tree's constants are float literals.
  EXPECT_EQ(nf4_code(0.8614784181118011f), 14);
  EXPECT_EQ(nf4_code(std::nextafter(0.8614784181118011f, 2.0f)), 15);
  EXPECT_EQ(nf4_code(0.0f), 7);
  EXPECT_EQ(nf4_code(-1.0f), 0);
  EXPECT_EQ(nf4_code(1.0f), 15);
  EXPECT_EQ(nf4_code(std::nanf("")), 0);  // an all-zero block scales 0 by +inf
  EXPECT_EQ(fp4_code(-0.0f), 0);          // the sign comes from x < 0
  EXPECT_EQ(fp4_code(-1.0f), 0b1011);
  EXPECT_EQ(fp4_code(0.00260417f), 0);
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(nf4_code(nf4_value(uint8_t(c))), c) << "NF4 table value " << c << " must map back to itself";
    if (c != 8) {
      EXPECT_EQ(fp4_code(fp4_value(uint8_t(c))), c) << "FP4 table value " << c;
    }
  }
}

TEST(Bnb4bit, SpecialInputMatchesBitsandbytesBitForBit) {
  const auto w = fixtures().floats("in4.special");
  int checked = 0;
  const auto& cases = meta().at("cases4");
  for (auto it = cases.begin(); it != cases.end(); ++it) {
    const std::string tag = it.key();
    if (tag.rfind("s.", 0) != 0) continue;
    check_case(parse_tag(tag), w, {16, 128});
    ++checked;
  }
  EXPECT_EQ(checked, 32);
}

TEST(Bnb4bit, GeneratedInputWithDoubleQuantMatchesBitsandbytes) {
  const auto& big = meta().at("big_input");
  const auto w = test::fixture_normals(big.at("seed").get<uint64_t>(), big.at("n").get<size_t>());
  ASSERT_EQ(sha256_hex(w.data(), w.size() * 4), big.at("sha256").get<std::string>()) << "input stream differs from the generator's";
  int checked = 0;
  const auto& cases = meta().at("cases4");
  for (auto it = cases.begin(); it != cases.end(); ++it) {
    const std::string tag = it.key();
    if (tag.rfind("b.", 0) != 0) continue;
    check_case(parse_tag(tag), w, {int64_t(w.size())});
    ++checked;
  }
  EXPECT_EQ(checked, 6);
  // The un-nested absmax of the same input, and quantlab's mean of it against torch's.
  for (const char* d : {"f32", "bf16"}) {
    const auto q = quantize_4bit(w.data(), {int64_t(w.size())}, {QuantType::NF4, 64, false}, dtype_of_tag(d));
    EXPECT_EQ(bits_of(q.absmax), fixtures().values<uint32_t>(std::string("b.") + d + ".nf4.64.plain.absmax"));
  }
}

TEST(Bnb4bit, AbsmaxMeanCoversEveryValueAtEverySize) {
  // The fixtures pin torch's addition order for up to 260 blocks; beyond that (more lanes, then
  // several thread blocks above 131072 values) every value must still be counted exactly once.
  for (size_t n : {1u, 3u, 127u, 128u, 131u, 4095u, 70000u, 131072u, 300001u, 2000000u}) {
    std::vector<float> v(n);
    long double exact = 0;
    for (size_t i = 0; i < n; ++i) {
      v[i] = 0.25f + float((i * 2654435761u) % 1000) / 1024.0f;
      exact += v[i];
    }
    exact /= (long double)n;
    EXPECT_NEAR(absmax_mean(v), double(exact), 2e-6 * double(exact)) << n;
  }
}

TEST(Bnb4bit, ReciprocalTableMattersForHalfPrecisionAbsmax) {
  // rcp.approx(1.0) and of powers of two is exact; for f16 mantissas the table decides.
  EXPECT_EQ(gpu_reciprocal(1.0f), 1.0f);
  EXPECT_EQ(gpu_reciprocal(0.0f), INFINITY);
  EXPECT_TRUE(gpu_reciprocal_is_exact(fp16_to_f32(0x3c06)));
  EXPECT_FALSE(gpu_reciprocal_is_exact(1.0f + 0x1p-23f));
  // Mantissa 6 (of 1024) rounds one ulp down on the GPU.
  const float x = fp16_to_f32(uint16_t(0x3c00 | 6));
  EXPECT_EQ(f32_bits(gpu_reciprocal(x)), f32_bits(1.0f / x) - 1);
}

TEST(Bnb4bit, FastDivideMatchesTheGpuForEveryHalfValue) {
  // __fdividef(127, y) (div.approx.ftz.f32) for all 31743 positive finite f16 y, as the H100
  // computed it: LLM.int8's row scale, and the reciprocal 4-bit scales use for f16/bf16 absmax.
  std::vector<float> q;
  for (uint32_t h = 1; h < 0x7c00; ++h) q.push_back(gpu_fast_divide(127.0f, fp16_to_f32(uint16_t(h))));
  const auto& ref = meta().at("div127");
  EXPECT_EQ(sha256_hex(q.data(), q.size() * 4), ref.at("approx_sha256").get<std::string>());
  size_t differ_from_rn = 0;
  for (uint32_t h = 1; h < 0x7c00; ++h) differ_from_rn += q[h - 1] != 127.0f / fp16_to_f32(uint16_t(h));
  EXPECT_EQ(differ_from_rn, ref.at("approx_ne_rn").get<size_t>());
}

TEST(Bnb4bit, RejectsBadInput) {
  std::vector<float> w(64, 0.5f);
  EXPECT_THROW(quantize_4bit(w.data(), {64}, {QuantType::NF4, 48, false}, SourceDtype::F16), Error);
  EXPECT_THROW(quantize_4bit(w.data(), {0}, {QuantType::NF4, 64, false}, SourceDtype::F16), Error);
  w[3] = NAN;
  try {
    quantize_4bit(w.data(), {64}, {QuantType::NF4, 64, false}, SourceDtype::F16, "model.safetensors");
    FAIL() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), "model.safetensors");
    EXPECT_EQ(e.field(), "value 3");
  }
}

TEST(Bnb4bit, OddLengthPacksTheLastValueHigh) {
  const std::vector<float> w = {1.0f, -1.0f, 0.0f};
  const auto q = quantize_4bit(w.data(), {3}, {QuantType::NF4, 64, false}, SourceDtype::F32);
  ASSERT_EQ(q.packed.size(), 2u);
  EXPECT_EQ(q.packed[0], 0xF0);
  EXPECT_EQ(q.packed[1], 0x70);
  EXPECT_EQ(dequantize_4bit(q), w);
}
