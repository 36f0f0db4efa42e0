// GGUF quantization against llama.cpp's llama-quantize on a model whose rows are all >= 256 wide,
// so every K and IQ type is really used (the tiny model's 64-wide rows only reach their fallbacks):
// the synthetic model of tests/quant/wide_model.hpp, quantized to each type with and without the
// importance matrix llama-imatrix made for it, must give llama-quantize's tensor types and bytes.
// Fixture: tools/make-wide-quantize-fixtures.py (tests/quant/fixtures/wide_quantize/). *Slow: about 40 s
// in Release (the IQ types search hard), so not under the sanitizers.
#include "quantlab/core/sha256.hpp"
#include "quantlab/formats/format.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "quantlab/quant/imatrix.hpp"
#include "test_support.hpp"
#include "wide_model.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = test::source_dir() / "tests/quant/fixtures/wide_quantize";

nlohmann::json fixture() {
  std::ifstream f(kFixtures / "llama_quantize_wide.json");
  return nlohmann::json::parse(f);
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class WideQuantizeSlow : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("wide-quantize");
    in_ = (dir_ / "wide.gguf").string();
    std::vector<uint8_t> bytes;
    test::wide_model(&bytes).write(in_);
    input_sha256_ = sha256_hex(bytes.data(), bytes.size());
  }
  void TearDown() override { fs::remove_all(dir_); }

  void expect_llama_quantizes_bytes(const std::string& group, const Imatrix* im, const std::string& im_path) {
    const auto fx = fixture();
    ASSERT_EQ(input_sha256_, fx["about"]["model"]["tensor_data_sha256"].get<std::string>())
        << "the model made here is not the one llama-quantize quantized";
    ASSERT_FALSE(fx[group].empty());
    for (const auto& [type, ref] : fx[group].items()) {
      SCOPED_TRACE(type + " (" + group + ")");
      GgufQuantizeOptions o;
      o.target = parse_gguf_target(type);
      o.threads = 2;
      o.params_json = "{}";
      o.imatrix = im;
      o.imatrix_path = im_path;
      const auto path = (dir_ / (type + "-" + group + ".gguf")).string();
      gguf_quantize(in_, path, o);
      const GgufFile f(path);
      const auto& order = fx["order"];
      ASSERT_EQ(f.tensors().size(), order.size());
      std::vector<uint8_t> all;
      bool k_or_iq = false;
      for (size_t i = 0; i < order.size(); ++i) {
        const auto& t = f.tensors()[i];
        EXPECT_EQ(t.name, order[i].get<std::string>());
        const std::string name = upper(std::string(format_traits(t.type).name));
        EXPECT_EQ(name, ref["types"][i].get<std::string>()) << t.name;
        k_or_iq = k_or_iq || name.find("_K") != std::string::npos || name.rfind("IQ", 0) == 0 || name.rfind("TQ", 0) == 0;
        all.insert(all.end(), f.tensor_data(t), f.tensor_data(t) + t.nbytes);
      }
      EXPECT_EQ(sha256_hex(all.data(), all.size()), ref["data_sha256"].get<std::string>())
          << "tensor bytes differ from llama-quantize's";
      if (type != "Q8_0" && type != "Q4_0") {
        EXPECT_TRUE(k_or_iq) << "no K/IQ tensor at all";
      }
      fs::remove(path);
    }
  }

  fs::path dir_;
  std::string in_, input_sha256_;
};

TEST_F(WideQuantizeSlow, ByteIdenticalToLlamaQuantizeWithoutImatrix) { expect_llama_quantizes_bytes("plain", nullptr, ""); }

TEST_F(WideQuantizeSlow, ByteIdenticalToLlamaQuantizeWithItsImatrix) {
  const auto im_path = (kFixtures / "wide.imatrix.gguf").string();
  const Imatrix im = read_imatrix(im_path);
  expect_llama_quantizes_bytes("imatrix", &im, im_path);
}

}  // namespace
