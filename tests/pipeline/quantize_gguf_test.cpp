// GPTQ onto GGUF block types through the whole pipeline, on the real tiny model (aidreams260K as
// a GGUF: dim 64, hidden 172): llama.cpp's Q4_0 / Q4_1 mixes, the layers quantized by GPTQ, the
// file written by gguf_quantize with the GPTQ tensors precomputed, then read back.
#include "quantlab/backend/matmul.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/pipeline/quantize_model.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "test_support.hpp"

#include <cstring>
#include <fstream>

namespace quantlab::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr WeightMatrix LayerWeights::*kLinears[] = {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv,
                                                     &LayerWeights::wo, &LayerWeights::ffn_gate, &LayerWeights::ffn_up,
                                                     &LayerWeights::ffn_down};
constexpr const char* kNames[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

class QuantizeGguf : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path model = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
    const fs::path tok = tok_ = test::shared_dir() / "models/aidreams260K/tok512.bin";
    wiki_ = test::shared_dir() / "data/wikitext-2-raw/wiki.test.raw";
    if (!fs::exists(model) || !fs::exists(tok) || !fs::exists(wiki_)) QUANTLAB_SKIP() << "input absent: " << model;
    dir_ = test::temp_dir("gptq-gguf");
    in_ = (dir_ / "aidreams260K.gguf").string();
    Llama2cCheckpoint ck(model.string());
    llama2c_to_gguf(ck, read_llama2c_tokenizer(tok.string(), ck.config().vocab_size)).write(in_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::vector<std::vector<int32_t>> samples(size_t count, size_t len) const {
    const Tokenizer tok = Tokenizer::load(tok_.string());
    std::ifstream in(wiki_);
    std::string line;
    std::vector<std::vector<int32_t>> out;
    while (std::getline(in, line) && out.size() < count) {
      if (line.size() < 400) continue;
      auto ids = tok.encode(line, true, false);
      if (ids.size() > len) ids.resize(len);
      out.push_back(std::move(ids));
    }
    return out;
  }

  fs::path dir_, wiki_, tok_;
  std::string in_;
};

TEST_F(QuantizeGguf, WrittenFileDecodesToTheInMemoryWeights) {
  const Model model = load_model(in_);
  const auto calib = samples(16, 96);
  ThreadPool pool(2);
  for (const std::string type : {"Q4_0", "Q4_1"}) {
    GgufQuantizeOptions g;
    g.target = parse_gguf_target(type);
    g.threads = 2;
    QuantizeOptions o;
    o.method = Method::Gptq;
    {
      const GgufFile src(in_);
      for (const GgufTensorPlan& p : plan_gguf_quantization(src, g)) o.gguf_types[p.name] = p.to;
    }
    QuantizeResult q = quantize_model(model, calib, o, pool);
    std::map<std::string, std::pair<FormatId, std::vector<uint8_t>>> encoded;
    int gptq = 0;
    for (QuantizedTensor& t : q.tensors) {
      ASSERT_TRUE(t.gguf) << t.name;
      gptq += t.gguf_gptq;
      encoded[t.name] = {t.gguf->type, t.gguf->bytes};
    }
    // Every linear with 64 inputs takes the 32-wide blocks; ffn_down's 172 inputs fall back.
    EXPECT_EQ(gptq, 6 * int(model.config.n_layer)) << type;
    g.method = "gptq";
    g.precomputed = &encoded;
    g.params_json = "{}";
    const std::string out = (dir_ / (type + ".gguf")).string();
    gguf_quantize(in_, out, g);

    const GgufFile file(out);
    EXPECT_EQ(file.get_string("quantlab.method"), "gptq");
    for (int64_t l = 0; l < model.config.n_layer; ++l)
      for (size_t s = 0; s < std::size(kLinears); ++s) {
        const std::string name = "blk." + std::to_string(l) + "." + kNames[s] + ".weight";
        const GgufTensorInfo* t = file.find_tensor(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_EQ(t->type, o.gguf_types.at(name)) << name;
        const std::vector<float> mem = decode_matrix(q.model.layers[size_t(l)].*kLinears[s]);
        const WeightMatrix stored = make_weight_matrix(t->type, file.tensor_data(*t), t->ne[1], t->ne[0]);
        const std::vector<float> disk = decode_matrix(stored);
        ASSERT_EQ(mem.size(), disk.size()) << name;
        EXPECT_EQ(std::memcmp(mem.data(), disk.data(), 4 * mem.size()), 0) << type << " " << name;
        EXPECT_EQ(std::memcmp(file.tensor_data(*t), encoded.at(name).second.data(), encoded.at(name).second.size()), 0);
      }
    // The file loads as a model whose layers are the in-memory ones.
    const Model reloaded = load_model(out);
    for (int64_t l = 0; l < model.config.n_layer; ++l)
      for (auto member : kLinears)
        EXPECT_EQ(decode_matrix(reloaded.layers[size_t(l)].*member), decode_matrix(q.model.layers[size_t(l)].*member));
  }
}

TEST_F(QuantizeGguf, BytesDoNotDependOnThreadCount) {
  const Model model = load_model(in_);
  const auto calib = samples(8, 64);
  GgufQuantizeOptions g;
  g.target = parse_gguf_target("Q4_1");
  QuantizeOptions o;
  o.method = Method::Gptq;
  o.gptq.act_order = true;
  const GgufFile src(in_);
  for (const GgufTensorPlan& p : plan_gguf_quantization(src, g)) o.gguf_types[p.name] = p.to;
  ThreadPool one(1), three(3);
  const QuantizeResult a = quantize_model(model, calib, o, one), b = quantize_model(model, calib, o, three);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) EXPECT_EQ(a.tensors[i].gguf->bytes, b.tensors[i].gguf->bytes) << a.tensors[i].name;
}

TEST_F(QuantizeGguf, PrecomputedTensorOfTheWrongTypeIsRefusedAndNothingIsWritten) {
  GgufQuantizeOptions g;
  g.target = parse_gguf_target("Q4_0");
  g.params_json = "{}";
  const GgufFile src(in_);
  const GgufTensorInfo* t = src.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(t, nullptr);
  std::map<std::string, std::pair<FormatId, std::vector<uint8_t>>> encoded;
  encoded["blk.0.attn_q.weight"] = {FormatId::Q4_1, std::vector<uint8_t>(row_bytes(FormatId::Q4_1, t->ne[0]) * size_t(t->ne[1]))};
  g.precomputed = &encoded;
  const std::string out = (dir_ / "bad.gguf").string();
  EXPECT_THROW(gguf_quantize(in_, out, g), Error);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace quantlab::pipeline
