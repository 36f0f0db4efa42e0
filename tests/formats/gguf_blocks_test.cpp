// GGUF block formats against independent references (fixtures made by
// tools/make-format-fixtures.py): encodings must be byte-identical to llama.cpp's
// ggml_quantize_chunk, decodings bit-identical to the PyPI gguf package.
#include "quantlab/formats/format.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

using namespace quantlab;

namespace {

std::filesystem::path fixture_dir() { return test::source_dir() / "tests" / "formats" / "fixtures"; }

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read fixture " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> read_floats(const std::filesystem::path& path) {
  const auto bytes = read_bytes(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

std::string sha256_hex(const void* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < length; ++i) {
    s += hex[digest[i] >> 4];
    s += hex[digest[i] & 15];
  }
  return s;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

struct Fixtures {
  nlohmann::json manifest;
  int64_t rows = 0, cols = 0;
  std::vector<float> input, importance;

  Fixtures() {
    std::ifstream in(fixture_dir() / "manifest.json");
    manifest = nlohmann::json::parse(in);
    rows = manifest["rows"];
    cols = manifest["cols"];
    input = read_floats(fixture_dir() / "input.f32");
    importance = read_floats(fixture_dir() / "importance.f32");
  }
  const float* row(int64_t r) const { return input.data() + r * cols; }
};

const Fixtures& fixtures() {
  static const Fixtures f;
  return f;
}

const FormatTraits& traits_of(const std::string& name) {
  const FormatTraits* f = find_format(name);
  if (!f) throw std::runtime_error("format not registered: " + name);
  return *f;
}

// Index of the first differing float (bitwise), or -1.
int64_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (bits(a[i]) != bits(b[i])) return int64_t(i);
  return a.size() == b.size() ? -1 : int64_t(std::min(a.size(), b.size()));
}

}  // namespace

TEST(GgufBlocks, RegistryMatchesLlamaCppLayouts) {
  for (const auto& [name, t] : fixtures().manifest["types"].items()) {
    SCOPED_TRACE(name);
    const FormatTraits& f = traits_of(name);
    EXPECT_EQ(uint32_t(f.id), t["id"].get<uint32_t>());
    EXPECT_EQ(f.name, name);
    EXPECT_EQ(f.block_size, t["block_size"].get<int64_t>());
    EXPECT_EQ(f.block_bytes, t["type_size"].get<size_t>());
    EXPECT_TRUE(f.is_quantized);
    EXPECT_EQ(f.from_float != nullptr, t["quantlab_encodes"].get<bool>());
    EXPECT_EQ(find_format(FormatId(t["id"].get<uint32_t>())), &f);
  }
  // llama-quantize refuses these without an importance matrix (tensor_requires_imatrix).
  for (const char* name : {"iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq1_s", "iq1_m"})
    EXPECT_TRUE(traits_of(name).needs_importance) << name;
  for (const char* name : {"q2_K", "q4_K", "iq4_xs", "iq4_nl", "iq3_s", "q8_0"})
    EXPECT_FALSE(traits_of(name).needs_importance) << name;
}

TEST(GgufBlocks, DecodesRandomBlocksLikeGguf) {
  int checked = 0;
  for (const auto& [name, t] : fixtures().manifest["types"].items()) {
    if (!t.contains("random")) continue;
    SCOPED_TRACE(name);
    const FormatTraits& f = traits_of(name);
    ASSERT_NE(f.to_float, nullptr);
    const auto blocks = read_bytes(fixture_dir() / t["random"]["bytes"].get<std::string>());
    const auto expected = read_floats(fixture_dir() / t["random"]["dequant"].get<std::string>());
    const int64_t n = t["random"]["values"];
    ASSERT_EQ(blocks.size(), row_bytes(f.id, n));
    std::vector<float> got(size_t(n), std::nanf(""));
    f.to_float(blocks.data(), got.data(), n);
    const int64_t at = first_difference(got, expected);
    EXPECT_EQ(at, -1) << "value " << at << ": got " << got[size_t(std::max<int64_t>(at, 0))] << ", gguf "
                      << expected[size_t(std::max<int64_t>(at, 0))];
    ++checked;
  }
  EXPECT_GE(checked, 21);
}

TEST(GgufBlocks, DecodesLlamaCppEncodingsLikeGguf) {
  const auto& fx = fixtures();
  for (const auto& [name, t] : fx.manifest["types"].items()) {
    const FormatTraits& f = traits_of(name);
    for (const auto& e : t["encoded"]) {
      if (!e.contains("dequant_sha256")) continue;
      SCOPED_TRACE(e["file"].get<std::string>());
      const auto blocks = read_bytes(fixture_dir() / e["file"].get<std::string>());
      const int64_t n = fx.rows * fx.cols;
      ASSERT_EQ(blocks.size(), row_bytes(f.id, n));
      std::vector<float> got(static_cast<size_t>(n));
      f.to_float(blocks.data(), got.data(), n);
      EXPECT_EQ(sha256_hex(got.data(), got.size() * 4), e["dequant_sha256"].get<std::string>());
    }
  }
}

TEST(GgufBlocks, EncodesLikeLlamaCpp) {
  const auto& fx = fixtures();
  int checked = 0;
  for (const auto& [name, t] : fx.manifest["types"].items()) {
    const FormatTraits& f = traits_of(name);
    if (!f.from_float) continue;
    for (const auto& e : t["encoded"]) {
      const std::string file = e["file"];
      SCOPED_TRACE(file);
      const auto expected = read_bytes(fixture_dir() / file);
      const size_t row_size = row_bytes(f.id, fx.cols);
      ASSERT_EQ(expected.size(), row_size * size_t(fx.rows));
      std::vector<uint8_t> got(row_size, 0xAA);
      for (int64_t r = 0; r < fx.rows; ++r) {
        f.from_float(fx.row(r), got.data(), fx.cols, e["importance"].get<bool>() ? fx.importance.data() : nullptr);
        const uint8_t* want = expected.data() + size_t(r) * row_size;
        size_t at = 0;
        while (at < row_size && got[at] == want[at]) ++at;
        EXPECT_EQ(at, row_size) << "row " << r << ": first differing byte " << at << " (block "
                                << at / f.block_bytes << ", offset " << at % f.block_bytes << ")";
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 16);
}

// Rows may start anywhere in a file (GGUF tensor data is aligned, but a caller's view may not be).
TEST(GgufBlocks, UnalignedBuffersGiveTheSameResults) {
  const auto& fx = fixtures();
  for (const FormatTraits* f : all_formats()) {
    if (!f->is_quantized || !f->from_float || !f->to_float) continue;
    SCOPED_TRACE(std::string(f->name));
    const size_t size = row_bytes(f->id, fx.cols);
    std::vector<uint8_t> aligned(size), shifted(size + 1);
    f->from_float(fx.row(0), aligned.data(), fx.cols, nullptr);
    std::vector<float> source(size_t(fx.cols) + 1);
    std::memcpy(source.data() + 1, fx.row(0), size_t(fx.cols) * 4);
    f->from_float(source.data() + 1, shifted.data() + 1, fx.cols, nullptr);
    EXPECT_EQ(0, std::memcmp(aligned.data(), shifted.data() + 1, size));
    std::vector<float> a(size_t(fx.cols)), b(size_t(fx.cols));
    f->to_float(aligned.data(), a.data(), fx.cols);
    f->to_float(shifted.data() + 1, b.data(), fx.cols);
    EXPECT_EQ(first_difference(a, b), -1);
  }
}

// The caller rejects non-finite weights, but an encoder handed them must still not misbehave
// (the sanitizer build turns undefined behaviour into a failure).
TEST(GgufBlocks, EncodersSurviveNonFiniteAndExtremeInputs) {
  const int64_t n = 512;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = std::sin(float(i));
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[40] = std::numeric_limits<float>::infinity();
  x[300] = -std::numeric_limits<float>::infinity();
  x[301] = 3e38f;
  x[302] = -3e38f;
  x[303] = 1e-42f;  // subnormal
  std::vector<float> importance(n, 1.0f);
  importance[7] = std::numeric_limits<float>::infinity();
  for (const FormatTraits* f : all_formats()) {
    if (!f->is_quantized || !f->from_float) continue;
    SCOPED_TRACE(std::string(f->name));
    std::vector<uint8_t> out(row_bytes(f->id, n));
    f->from_float(x.data(), out.data(), n, nullptr);
    f->from_float(x.data(), out.data(), n, importance.data());
    if (f->to_float) {
      std::vector<float> back(n);
      f->to_float(out.data(), back.data(), n);
    }
  }
}

// More bits must mean less error on ordinary data: a sanity check that each encoder is wired to
// its own decoder and search.
TEST(GgufBlocks, ErrorShrinksWithBits) {
  const auto& fx = fixtures();
  auto rmse = [&](const char* name, bool weighted) {
    const FormatTraits& f = traits_of(name);
    double sum = 0;
    for (int64_t r : {0, 1, 6}) {
      std::vector<uint8_t> q(row_bytes(f.id, fx.cols));
      std::vector<float> back(size_t(fx.cols));
      f.from_float(fx.row(r), q.data(), fx.cols, weighted ? fx.importance.data() : nullptr);
      f.to_float(q.data(), back.data(), fx.cols);
      double row_sq = 0, row_err = 0;
      for (int64_t i = 0; i < fx.cols; ++i) {
        const double d = double(back[size_t(i)]) - fx.row(r)[i];
        row_err += d * d;
        row_sq += double(fx.row(r)[i]) * fx.row(r)[i];
      }
      sum += row_err / row_sq;
    }
    return std::sqrt(sum / 3);
  };
  for (bool weighted : {false, true}) {
    SCOPED_TRACE(weighted ? "with importance" : "plain");
    const char* ladder[] = {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_0"};
    for (size_t i = 1; i < std::size(ladder); ++i)
      EXPECT_LT(rmse(ladder[i], weighted), rmse(ladder[i - 1], weighted)) << ladder[i] << " vs " << ladder[i - 1];
    EXPECT_LT(rmse("q5_0", weighted), rmse("q4_0", weighted));
    EXPECT_LT(rmse("iq4_xs", weighted), rmse("q3_K", weighted));
    EXPECT_LT(rmse("q4_K", weighted), 0.12);
  }
}
