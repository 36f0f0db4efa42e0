// GGUF quantization against llama.cpp's own llama-quantize on a real tiny model (aidreams260K:
// rows of 64 values, so every k-quant takes llama.cpp's fallback path and ffn_down, 172 wide,
// falls back to F16). Fixture: tools/make-gguf-quantize-fixtures.py (per-tensor types, one SHA-256
// over all tensor bytes, metadata keys in order, for each target type, with and without the
// imatrix llama-imatrix made).
#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = test::source_dir() / "tests/quant/fixtures/gguf_quantize";

// aidreams260K as a GGUF (quantlab's converter writes llama.cpp's converter's bytes).
class GgufQuantizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path model = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
    const fs::path tok = test::shared_dir() / "models/aidreams260K/tok512.bin";
    if (!fs::exists(model) || !fs::exists(tok)) QUANTLAB_SKIP() << "input absent: " << model;
    dir_ = test::temp_dir("ggufq");
    in_ = (dir_ / "aidreams260K.gguf").string();
    Llama2cCheckpoint ck(model.string());
    llama2c_to_gguf(ck, read_llama2c_tokenizer(tok.string(), ck.config().vocab_size)).write(in_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  static GgufQuantizeOptions options(const std::string& type, int threads = 2) {
    GgufQuantizeOptions o;
    o.target = parse_gguf_target(type);
    o.threads = threads;
    o.params_json = "{}";
    return o;
  }
  fs::path dir_;
  std::string in_;
};

nlohmann::json fixture() {
  std::ifstream f(kFixtures / "llama_quantize_aidreams.json");
  return nlohmann::json::parse(f);
}

std::string data_sha256(const GgufFile& f) {
  std::vector<uint8_t> all;
  for (const auto& t : f.tensors()) all.insert(all.end(), f.tensor_data(t), f.tensor_data(t) + t.nbytes);
  return sha256_hex(all.data(), all.size());
}

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = char(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

void expect_same_as_llama_cpp(const GgufFile& f, const nlohmann::json& ref, const nlohmann::json& order,
                              const nlohmann::json& keys, const std::string& what) {
  ASSERT_EQ(f.tensors().size(), order.size()) << what;
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(f.tensors()[i].name, order[i].get<std::string>()) << what;
    EXPECT_EQ(upper(format_traits(f.tensors()[i].type).name), ref["types"][i].get<std::string>())
        << what << " " << f.tensors()[i].name;
  }
  EXPECT_EQ(data_sha256(f), ref["data_sha256"].get<std::string>()) << what << ": tensor bytes differ from llama-quantize's";
  std::vector<std::string> ours;
  for (const auto& [k, v] : f.metadata())
    if (k.rfind("quantlab.", 0) != 0) ours.push_back(k);
  EXPECT_EQ(ours, keys.get<std::vector<std::string>>()) << what;
}

}  // namespace

TEST_F(GgufQuantizeTest, ByteIdenticalToLlamaQuantizeWithoutImatrix) {
  const auto fx = fixture();
  ASSERT_EQ(sha256_file(in_), fx["about"]["model_sha256"].get<std::string>());
  for (const auto& [type, ref] : fx["plain"].items()) {
    const auto path = out(type + ".gguf");
    gguf_quantize(in_, path, options(type));
    expect_same_as_llama_cpp(GgufFile(path), ref, fx["order"], fx["keys_plain"], type);
  }
}

TEST_F(GgufQuantizeTest, ByteIdenticalToLlamaQuantizeWithItsImatrix) {
  const auto fx = fixture();
  const auto im_path = (kFixtures / "aidreams260K.imatrix.gguf").string();
  const Imatrix im = read_imatrix(im_path);
  for (const auto& [type, ref] : fx["imatrix"].items()) {
    auto o = options(type);
    o.imatrix = &im;
    o.imatrix_path = im_path;
    const auto path = out(type + "-imatrix.gguf");
    gguf_quantize(in_, path, o);
    const GgufFile f(path);
    expect_same_as_llama_cpp(f, ref, fx["order"], fx["keys_imatrix"], type + " with imatrix");
    EXPECT_EQ(f.get_int("quantize.imatrix.entries_count"), int64_t(im.entries.size()));
    EXPECT_EQ(f.get_string("quantlab.imatrix.sha256"), sha256_file(im_path));
  }
}

TEST_F(GgufQuantizeTest, FallbacksAndProvenance) {
  auto o = options("Q4_K_M");
  o.params_json = R"({"type":"Q4_K_M"})";
  const auto path = out("q4km.gguf");
  const auto r = gguf_quantize(in_, path, o);
  const GgufFile f(path);
  // 64-wide rows: Q4_K (256) falls back to Q5_0; ffn_down rows (172) fit no 32-block: F16.
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, FormatId::Q5_0);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, FormatId::F16);
  EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->type, FormatId::F32);
  EXPECT_EQ(f.find_tensor("output.weight")->type, FormatId::Q8_0);
  EXPECT_GT(r.n_fallback, 0);
  EXPECT_EQ(f.get_int("general.file_type"), 15);
  EXPECT_EQ(f.get_string("quantlab.method"), "gguf");
  EXPECT_EQ(f.get_string("quantlab.source.sha256"), sha256_file(in_));
  EXPECT_EQ(f.get_string("quantlab.params"), o.params_json);
  EXPECT_EQ(f.get_string("quantlab.version"), QUANTLAB_VERSION);

  // Same bytes whatever the thread count.
  const auto one = out("q4km-1.gguf");
  gguf_quantize(in_, one, options("Q4_K_M", 1));
  const auto five = out("q4km-5.gguf");
  gguf_quantize(in_, five, options("Q4_K_M", 5));
  EXPECT_EQ(data_sha256(GgufFile(one)), data_sha256(GgufFile(five)));
}

TEST_F(GgufQuantizeTest, DequantizesToF32AsTheRegistryDecodes) {
  const auto q = out("q8.gguf"), f32 = out("f32.gguf");
  gguf_quantize(in_, q, options("Q8_0"));
  gguf_quantize(q, f32, options("F32"));
  const GgufFile a(q), b(f32);
  EXPECT_EQ(b.get_int("general.file_type"), 0);
  for (const auto& t : a.tensors()) {
    const auto* u = b.find_tensor(t.name);
    ASSERT_NE(u, nullptr);
    ASSERT_EQ(u->type, FormatId::F32) << t.name;
    std::vector<float> want(size_t(t.n_elements()));
    const size_t rb = row_bytes(t.type, t.ne[0]);
    for (int64_t r = 0; r < t.n_elements() / t.ne[0]; ++r)
      format_traits(t.type).to_float(a.tensor_data(t) + size_t(r) * rb, want.data() + r * t.ne[0], t.ne[0]);
    EXPECT_EQ(std::memcmp(want.data(), b.tensor_data(*u), want.size() * 4), 0) << t.name;
  }
}

TEST_F(GgufQuantizeTest, TypeNeedingAnImatrixIsRefusedWithoutOne) {
  // aidreams' 64-wide rows make IQ2_XXS fall back to IQ4_NL, which needs no imatrix (llama.cpp
  // agrees), so the refusal is checked on a one-layer file with 256-wide rows.
  GgufWriter w;
  w.set("general.architecture", GgufValue::str("llama"));
  w.set("llama.block_count", GgufValue::u32(1));
  w.set("llama.attention.head_count", GgufValue::u32(2));
  std::vector<uint8_t> bytes(256 * 4 * 4);
  for (size_t i = 0; i < bytes.size() / 4; ++i) {
    const float v = std::sin(float(i));
    std::memcpy(bytes.data() + 4 * i, &v, 4);
  }
  w.add_tensor("token_embd.weight", {256, 4}, FormatId::F32, bytes);
  w.add_tensor("blk.0.attn_q.weight", {256, 4}, FormatId::F32, bytes);
  const auto in = out("wide.gguf");
  w.write(in);
  const auto path = out("iq2.gguf");
  try {
    gguf_quantize(in, path, options("IQ2_XXS"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs an importance matrix"), std::string::npos) << e.what();
    EXPECT_EQ(e.source(), "blk.0.attn_q.weight") << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
  // On aidreams itself llama.cpp falls back and needs none: so do we.
  const auto fallback = out("iq2-aidreams.gguf");
  gguf_quantize(in_, fallback, options("IQ2_XXS"));
  EXPECT_EQ(GgufFile(fallback).find_tensor("blk.0.attn_q.weight")->type, FormatId::IQ4_NL);
}

TEST_F(GgufQuantizeTest, ImatrixOfAnotherModelIsRefused) {
  Imatrix wrong_width;
  std::vector<float> x(20 * 65, 1.0f);
  wrong_width.add("blk.0.attn_q.weight", x.data(), 20, 65);
  Imatrix wrong_name;
  wrong_name.add("blk.9.attn_q.weight", x.data(), 20, 64);
  for (const Imatrix* im : {&wrong_width, &wrong_name}) {
    auto o = options("Q4_K_M");
    o.imatrix = im;
    o.imatrix_path = "other.imatrix";
    const auto path = out("bad-imatrix.gguf");
    try {
      gguf_quantize(in_, path, o);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
      EXPECT_EQ(e.source(), "other.imatrix");
    }
    EXPECT_FALSE(fs::exists(path));
  }
}

TEST_F(GgufQuantizeTest, NonFiniteWeightIsRefusedNamingTheTensor) {
  const GgufFile f(in_);
  GgufWriter bad;
  for (const auto& [k, v] : f.metadata()) bad.set(k, v);
  for (const auto& t : f.tensors()) {
    std::vector<uint8_t> bytes(f.tensor_data(t), f.tensor_data(t) + t.nbytes);
    if (t.name == "blk.2.ffn_up.weight") {
      const float inf = INFINITY;
      std::memcpy(bytes.data() + 4 * 100, &inf, 4);
    }
    bad.add_tensor(t.name, t.ne, t.type, std::move(bytes));
  }
  const auto bad_path = out("inf.gguf");
  bad.write(bad_path);
  const auto path = out("inf-q8.gguf");
  try {
    gguf_quantize(bad_path, path, options("Q8_0"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "blk.2.ffn_up.weight");
    EXPECT_NE(std::string(e.what()).find("NaN or infinite"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(GgufQuantizeTest, OverridesAndUnknownTypes) {
  auto o = options("Q8_0");
  o.tensor_type_overrides = {{"attn_(q|k)", FormatId::Q4_0}};
  o.token_embedding_type = FormatId::F16;
  o.output_tensor_type = FormatId::Q5_1;
  const auto path = out("ovr.gguf");
  gguf_quantize(in_, path, o);
  const GgufFile f(path);
  EXPECT_EQ(f.find_tensor("blk.3.attn_k.weight")->type, FormatId::Q4_0);
  EXPECT_EQ(f.find_tensor("blk.3.attn_v.weight")->type, FormatId::Q8_0);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, FormatId::F16);
  EXPECT_EQ(f.find_tensor("output.weight")->type, FormatId::Q5_1);
  EXPECT_THROW(parse_gguf_target("Q4_K_X"), Error);
  EXPECT_EQ(parse_gguf_target("q4_k").file_type, 15u);  // alias of Q4_K_M, as llama-quantize
}
