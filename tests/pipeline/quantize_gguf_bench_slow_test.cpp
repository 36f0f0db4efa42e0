// The bench model (SmolLM2-135M-Instruct, F32 dequantization of its Q4_1 GGUF), GPTQ onto
// llama.cpp's Q4_K_M mix: every linear gets the mix's type (576-wide rows fall back to Q5_0/Q8_0
// as in llama-quantize), the written GGUF decodes to the in-memory weights bit for bit, and on
// held-out paragraphs it is closer to the float model than the same mix made the llama-quantize
// way (quantlab's gguf path, byte-identical to llama-quantize). Release build only.
#include "quantlab/io/gguf.hpp"
#include "quantlab/model/layer_runner.hpp"
#include "quantlab/pipeline/quantize_model.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "test_support.hpp"

#include <cmath>
#include <cstring>
#include <fstream>

namespace quantlab::pipeline {
namespace {

namespace fs = std::filesystem;

std::string bench_f32() { return (test::assets_dir() / "derived/SmolLM2-135M-Instruct.Q4_1.f32.gguf").string(); }
std::string groups_merged() { return (test::shared_dir() / "data/imatrix-groups-merged/groups_merged.txt").string(); }

std::vector<std::vector<int32_t>> paragraphs(const Tokenizer& tok, size_t first, size_t count, size_t len) {
  std::ifstream in(groups_merged());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::vector<int32_t>> out;
  size_t pos = 0, seen = 0;
  while (out.size() < count && pos < text.size()) {
    size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string para = text.substr(pos, end - pos);
    pos = end + 2;
    if (para.size() < 300 || seen++ < first) continue;
    auto ids = tok.encode(para, true, false);
    if (ids.size() > len) ids.resize(len);
    out.push_back(std::move(ids));
  }
  return out;
}

// Mean KL(base || test) of the next-token distributions over every position of the samples.
double mean_kld(const Model& base, const Model& test, ThreadPool& pool, const std::vector<std::vector<int32_t>>& samples) {
  auto logits = [&](const Model& m) {
    LayerRunner r(m.config, pool);
    SampleBatch b = r.embed(m, samples);
    for (int64_t l = 0; l < m.config.n_layer; ++l) r.run_layer(int(l), m.layers[size_t(l)], b);
    std::vector<float> out, part;
    for (int64_t s = 0; s < b.n_samples(); ++s) {
      r.logits(m, b, s, part);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  };
  const auto p = logits(base), q = logits(test);
  const int64_t vocab = base.config.n_vocab, n = int64_t(p.size()) / vocab;
  double total = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* a = p.data() + t * vocab;
    const float* b = q.data() + t * vocab;
    double ma = a[0], mb = b[0], za = 0, zb = 0, kl = 0;
    for (int64_t i = 1; i < vocab; ++i) ma = std::max(ma, double(a[i])), mb = std::max(mb, double(b[i]));
    for (int64_t i = 0; i < vocab; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    for (int64_t i = 0; i < vocab; ++i) {
      const double la = a[i] - ma - std::log(za), lb = b[i] - mb - std::log(zb);
      kl += std::exp(la) * (la - lb);
    }
    total += kl;
  }
  return total / double(n);
}

TEST(QuantizeGgufBenchSlow, GptqQ4KMDecodesExactlyAndBeatsTheLlamaQuantizeMix) {
  QUANTLAB_REQUIRE_FILE(bench_f32());
  QUANTLAB_REQUIRE_FILE(groups_merged());
  const Model model = load_model(bench_f32());
  const Tokenizer tok = Tokenizer::load(bench_f32());
  const auto calib = paragraphs(tok, 0, 32, 256);
  const auto held_out = paragraphs(tok, 300, 6, 256);
  ThreadPool pool(2);
  const fs::path dir = test::temp_dir("gptq-q4km");

  GgufQuantizeOptions g;
  g.target = parse_gguf_target("Q4_K_M");
  g.threads = 2;
  g.params_json = "{}";
  QuantizeOptions o;
  o.method = Method::Gptq;
  {
    const GgufFile src(bench_f32());
    for (const GgufTensorPlan& p : plan_gguf_quantization(src, g)) o.gguf_types[p.name] = p.to;
  }
  QuantizeResult q = quantize_model(model, calib, o, pool);
  std::map<std::string, std::pair<FormatId, std::vector<uint8_t>>> encoded;
  for (QuantizedTensor& t : q.tensors) {
    EXPECT_TRUE(t.gguf_gptq) << t.name;
    encoded[t.name] = {t.gguf->type, std::move(t.gguf->bytes)};
  }
  const std::string plain_path = (dir / "plain.gguf").string(), gptq_path = (dir / "gptq.gguf").string();
  gguf_quantize(bench_f32(), plain_path, g);
  g.precomputed = &encoded;
  g.method = "gptq";
  gguf_quantize(bench_f32(), gptq_path, g);

  // Same tensor types and sizes as the llama-quantize mix; the linears decode to the in-memory model.
  const Model gptq = load_model(gptq_path), plain = load_model(plain_path);
  EXPECT_EQ(fs::file_size(gptq_path), fs::file_size(plain_path));
  for (int64_t l = 0; l < model.config.n_layer; ++l) {
    const LayerWeights &a = gptq.layers[size_t(l)], &b = plain.layers[size_t(l)], &m = q.model.layers[size_t(l)];
    for (auto member : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                        &LayerWeights::ffn_gate, &LayerWeights::ffn_up, &LayerWeights::ffn_down}) {
      EXPECT_EQ((a.*member).format, (b.*member).format) << "layer " << l;
      const auto disk = decode_matrix(a.*member), mem = decode_matrix(m.*member);
      ASSERT_EQ(disk.size(), mem.size());
      EXPECT_EQ(0, std::memcmp(disk.data(), mem.data(), 4 * disk.size())) << "layer " << l;
    }
  }
  const double kld_gptq = mean_kld(model, gptq, pool, held_out), kld_plain = mean_kld(model, plain, pool, held_out);
  std::printf("bench Q4_K_M held-out KLD: llama-quantize mix (no imatrix) %.5f, gptq %.5f\n", kld_plain, kld_gptq);
  EXPECT_LT(kld_gptq, 0.9 * kld_plain);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace quantlab::pipeline
