// Residual-stream rotation (quant/rotation.hpp, pipeline/rotate_gguf.hpp). References independent of
// the rotation code: Hadamard and orthogonality properties checked by plain loops here; the rotated
// model's logits against the original's through the forward pass (Session) and through llama.cpp
// (llama-cpp-python, tools/check_rotation_llama_cpp.py); refusals as one-line errors with no file.
#include "io/io_test_util.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/pipeline/rotate_gguf.hpp"
#include "quantlab/quant/hadamard.hpp"
#include "quantlab/quant/rotation.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

fs::path wiki() { return test::assets_dir() / "data/wikitext-2-raw/wiki.test.raw"; }
fs::path tiny_bin() { return test::shared_dir() / "models/aidreams260K/aidreams260K.bin"; }
fs::path tiny_tok() { return test::shared_dir() / "models/aidreams260K/tok512.bin"; }
fs::path bench_f32() { return test::assets_dir() / "derived/SmolLM2-135M-Instruct.Q4_1.f32.gguf"; }
fs::path bench_q41() { return test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"; }
fs::path gemma() { return test::assets_dir() / "models/gemma3-270m-q4_k_m"; }

// max |(QᵀQ - I)[i][j]| over the columns `cols` of the dense n x n matrix q.
double orthogonality_error(const std::vector<double>& q, int64_t n, const std::vector<int64_t>& cols) {
  double worst = 0;
  for (int64_t a : cols)
    for (int64_t b : cols) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += q[size_t(i * n + a)] * q[size_t(i * n + b)];
      worst = std::max(worst, std::abs(s - (a == b ? 1.0 : 0.0)));
    }
  return worst;
}

std::vector<int64_t> all_columns(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  return v;
}

// The first `n` tokens of WikiText-2 test with the model's vocabulary, BOS first.
std::vector<int32_t> wiki_tokens(const std::string& model, size_t n) {
  std::ifstream in(wiki(), std::ios::binary);
  std::string raw(n * 16, '\0');
  in.read(raw.data(), std::streamsize(raw.size()));
  raw.resize(size_t(in.gcount()));
  auto ids = Tokenizer::load(model).encode(raw, true, false);
  ids.resize(std::min(ids.size(), n));
  return ids;
}

struct LogitDiff {
  double max_abs_diff = 0, max_abs_logit = 0;
};

LogitDiff compare_logits(const Model& a, const Model& b, const std::vector<int32_t>& tokens) {
  ThreadPool pool(2);
  Session sa(a, pool, int64_t(tokens.size())), sb(b, pool, int64_t(tokens.size()));
  const auto la = sa.forward(tokens, 0);
  const std::vector<float> copy(la.begin(), la.end());
  const auto lb = sb.forward(tokens, 0);
  LogitDiff d;
  for (size_t i = 0; i < copy.size(); ++i) {
    d.max_abs_diff = std::max(d.max_abs_diff, double(std::abs(copy[i] - lb[i])));
    d.max_abs_logit = std::max(d.max_abs_logit, double(std::abs(copy[i])));
  }
  return d;
}

// A metadata value's bytes as a file stores them (a one-key file).
std::vector<uint8_t> value_bytes(const GgufValue& v) {
  GgufWriter w;
  w.set("k", v);
  return w.to_bytes();
}

// The tiny llama2.c model as a GGUF (llama.cpp's converter's layout) in `dir`.
std::string tiny_gguf(const fs::path& dir) {
  const Llama2cCheckpoint ck(tiny_bin().string());
  const auto out = (dir / "tiny.gguf").string();
  llama2c_to_gguf(ck, read_llama2c_tokenizer(tiny_tok().string(), ck.config().vocab_size)).write(out);
  return out;
}

// The tiny GGUF as another architecture of the same block: qwen2 gets Q/K/V biases, qwen3 per-head
// Q/K norms (random values, so a rotation that touched them would show in the logits).
std::string as_arch(const std::string& src, const std::string& arch, const fs::path& dir) {
  const GgufFile f(src);
  GgufWriter w(f.version());
  for (const auto& [k, v] : f.metadata()) {
    if (k == "general.architecture") w.set(k, GgufValue::str(arch));
    else if (k.rfind("llama.", 0) == 0) w.set(arch + k.substr(5), v);
    else w.set(k, v);
  }
  for (const auto& t : f.tensors()) w.add_tensor(t.name, t.ne, t.type, f.tensor_data(t), size_t(t.nbytes));
  const int64_t n_layer = f.get_int("llama.block_count"), n_embd = f.get_int("llama.embedding_length");
  const int64_t n_head = f.get_int("llama.attention.head_count"), n_kv = f.get_int("llama.attention.head_count_kv", n_head);
  const int64_t head_dim = n_embd / n_head;
  auto vec = [&](const std::string& name, int64_t n, uint32_t seed, float offset) {
    std::vector<float> v = test::randoms(size_t(n), seed, 0.3f);
    for (float& x : v) x += offset;
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    w.add_tensor(name, {n}, FormatId::F32, std::move(bytes));
  };
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    if (arch == "qwen2") {
      vec(b + "attn_q.bias", n_head * head_dim, uint32_t(10 + l), 0.0f);
      vec(b + "attn_k.bias", n_kv * head_dim, uint32_t(20 + l), 0.0f);
      vec(b + "attn_v.bias", n_kv * head_dim, uint32_t(30 + l), 0.0f);
    } else {
      vec(b + "attn_q_norm.weight", head_dim, uint32_t(40 + l), 1.0f);
      vec(b + "attn_k_norm.weight", head_dim, uint32_t(50 + l), 1.0f);
    }
  }
  const auto out = (dir / (arch + ".gguf")).string();
  w.write(out);
  return out;
}

}  // namespace

TEST(Hadamard, PaleyAndSylvesterMatricesAreHadamard) {
  int checked = 0;
  for (int64_t n : hadamard_orders(256)) {
    const HadamardPlan plan = *hadamard_plan(n);
    const int64_t k = plan.small_order;
    const std::vector<int8_t> h = paley_hadamard(plan);
    ASSERT_EQ(h.size(), size_t(k * k)) << plan.describe();
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        int64_t s = 0;
        for (int64_t c = 0; c < k; ++c) s += int64_t(h[size_t(i * k + c)]) * h[size_t(j * k + c)];
        ASSERT_EQ(s, i == j ? k : 0) << plan.describe() << " rows " << i << ", " << j;
      }
    checked += k > 1;
  }
  EXPECT_GT(checked, 40);
}

TEST(Hadamard, ModelWidthsHaveConstructions) {
  auto d = [](int64_t n) { return hadamard_plan(n) ? hadamard_plan(n)->describe() : std::string("none"); };
  EXPECT_EQ(d(12), "hadamard 12 = paley-I(q=11) 12 x sylvester 1");
  EXPECT_EQ(d(20), "hadamard 20 = paley-I(q=19) 20 x sylvester 1");
  EXPECT_EQ(d(28), "hadamard 28 = paley-II(q=13) 28 x sylvester 1");
  EXPECT_EQ(d(36), "hadamard 36 = paley-II(q=17) 36 x sylvester 1");
  EXPECT_EQ(d(576), "hadamard 576 = paley-II(q=17) 36 x sylvester 16");   // SmolLM2-135M
  EXPECT_EQ(d(640), "hadamard 640 = paley-I(q=19) 20 x sylvester 32");    // Gemma 3 270M
  EXPECT_EQ(d(896), "hadamard 896 = paley-II(q=13) 28 x sylvester 32");   // Qwen2.5-0.5B
  EXPECT_EQ(d(1536), "hadamard 1536 = paley-I(q=11) 12 x sylvester 128"); // Qwen2.5-1.5B
  EXPECT_EQ(d(4096), "hadamard 4096 = sylvester 4096");
  EXPECT_EQ(d(92), "none");   // 92 needs Williamson's construction, 100 a Paley of q = 49 (not prime)
  EXPECT_EQ(d(100), "none");
}

TEST(Rotation, IsOrthogonalForEveryConstruction) {
  for (int64_t n : {12, 20, 28, 36, 64, 576, 640}) {
    const Rotation r(n, 7);
    ASSERT_TRUE(r.is_hadamard()) << n;
    const auto q = r.dense();
    EXPECT_LE(orthogonality_error(q, n, all_columns(n)), 1e-6) << r.construction();
    const double h = 1.0 / std::sqrt(double(n));  // randomized Hadamard: every entry ±1/√n
    for (double x : q) ASSERT_NEAR(std::abs(x), h, 1e-12) << r.construction();
  }
  for (int64_t n : {92, 100, 96}) {
    const Rotation r(n, 7, n == 96);  // 96 has a Hadamard (12 x 8): forced random here
    EXPECT_FALSE(r.is_hadamard());
    EXPECT_NE(r.construction().find("random orthogonal"), std::string::npos);
    EXPECT_LE(orthogonality_error(r.dense(), n, all_columns(n)), 1e-6) << r.construction();
  }
  // 4096 (2^12): 96 columns spread over the matrix, pairwise.
  const Rotation big(4096, 7);
  const auto q = big.dense();
  std::vector<int64_t> cols;
  for (int64_t c = 0; c < 4096; c += 43) cols.push_back(c);
  EXPECT_LE(orthogonality_error(q, 4096, cols), 1e-6);
}

TEST(Rotation, SeedDecidesTheMatrix) {
  EXPECT_EQ(Rotation(576, 3).dense(), Rotation(576, 3).dense());
  EXPECT_NE(Rotation(576, 3).dense(), Rotation(576, 4).dense());
  EXPECT_EQ(Rotation(100, 3).dense(), Rotation(100, 3).dense());
  EXPECT_NE(Rotation(100, 3).dense(), Rotation(100, 4).dense());
}

TEST(Rotation, TinyModelKeepsItsLogits) {
  QUANTLAB_REQUIRE_FILE(tiny_bin());
  QUANTLAB_REQUIRE_FILE(wiki());
  const auto dir = test::temp_dir("rotate-tiny");
  const std::string src = tiny_gguf(dir);
  const Model original = load_model(src);
  const auto tokens = wiki_tokens(src, 128);
  ASSERT_EQ(tokens.size(), 128u);
  const int64_t n = original.config.n_embd;
  for (const Rotation& q : {Rotation(n, 11), Rotation(n, 11, true), Rotation::identity(n)}) {
    Model rotated = load_model(src);
    ThreadPool pool(2);
    rotate_model(rotated, q, pool);
    EXPECT_FALSE(rotated.config.tied_embeddings);
    const LogitDiff d = compare_logits(original, rotated, tokens);
    std::printf("tiny model (n_embd %lld, %s): max |dlogit| %.3g over 128 tokens (max |logit| %.3g)\n",
                static_cast<long long>(n), q.construction().c_str(), d.max_abs_diff, d.max_abs_logit);
    EXPECT_LE(d.max_abs_diff, 1e-4 * d.max_abs_logit);
    EXPECT_GT(d.max_abs_logit, 1.0);
  }
  fs::remove_all(dir);
}

TEST(Rotation, QwenBiasesAndHeadNormsStayAsTheyAre) {
  QUANTLAB_REQUIRE_FILE(tiny_bin());
  QUANTLAB_REQUIRE_FILE(wiki());
  const auto dir = test::temp_dir("rotate-qwen");
  const std::string tiny = tiny_gguf(dir);
  const auto tokens = wiki_tokens(tiny, 128);
  for (const char* arch : {"qwen2", "qwen3"}) {
    const std::string src = as_arch(tiny, arch, dir);
    const auto out = (dir / (std::string(arch) + "-rot.gguf")).string();
    const auto r = pipeline::rotate_gguf(src, out, {});
    EXPECT_EQ(r.arch, arch);
    const Model original = load_model(src), rotated = load_model(out);
    EXPECT_EQ(r.tensors_copied, (arch == std::string("qwen2") ? 3 : 2) * original.config.n_layer);  // biases / Q-K norms
    EXPECT_EQ(original.config.qkv_bias, arch == std::string("qwen2"));
    EXPECT_EQ(original.config.qk_norm, arch == std::string("qwen3"));
    const LogitDiff d = compare_logits(original, rotated, tokens);
    std::printf("tiny model as %s: max |dlogit| %.3g (max |logit| %.3g)\n", arch, d.max_abs_diff, d.max_abs_logit);
    EXPECT_LE(d.max_abs_diff, 1e-4 * d.max_abs_logit);
  }
  fs::remove_all(dir);
}

TEST(Rotation, SameBytesWhateverTheThreadCount) {
  QUANTLAB_REQUIRE_FILE(tiny_bin());
  const auto dir = test::temp_dir("rotate-threads");
  const std::string src = tiny_gguf(dir);
  std::vector<std::string> sums;
  for (int threads : {1, 3}) {
    pipeline::RotateGgufOptions o;
    o.seed = 5;
    o.threads = threads;
    const auto out = (dir / ("rot" + std::to_string(threads) + ".gguf")).string();
    pipeline::rotate_gguf(src, out, o);
    sums.push_back(sha256_file(out));
  }
  EXPECT_EQ(sums[0], sums[1]);
  fs::remove_all(dir);
}

TEST(Rotation, WrittenFileKeepsMetadataAndIsAPlainModel) {
  QUANTLAB_REQUIRE_FILE(tiny_bin());
  const auto dir = test::temp_dir("rotate-file");
  const std::string src = tiny_gguf(dir);
  const auto out = (dir / "rot.gguf").string();
  pipeline::RotateGgufOptions o;
  o.seed = 9;
  const auto r = pipeline::rotate_gguf(src, out, o);
  const GgufFile in(src), f(out);
  for (const auto& [k, v] : in.metadata()) {  // every key kept, with its bytes, but the file type
    const GgufValue* w = f.find(k);
    ASSERT_NE(w, nullptr) << k;
    if (k != "general.file_type") {
      EXPECT_EQ(value_bytes(*w), value_bytes(v)) << k;
    }
  }
  EXPECT_EQ(f.get_int("quantlab.rotation.seed"), 9);
  EXPECT_EQ(f.get_string("quantlab.rotation.construction"), r.construction);
  EXPECT_EQ(r.construction, "randomized hadamard 64 = sylvester 64");
  for (const auto& t : in.tensors()) {  // same tensors and shapes, norms of ones
    const GgufTensorInfo* u = f.find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->ne, t.ne) << t.name;
    EXPECT_EQ(u->type, FormatId::F32) << t.name;
    if (t.name.find("norm") != std::string::npos) {
      const float* x = reinterpret_cast<const float*>(f.tensor_data(*u));
      for (int64_t i = 0; i < u->n_elements(); ++i) ASSERT_EQ(x[i], 1.0f) << t.name;
    }
  }
  EXPECT_EQ(f.tensors().size(), in.tensors().size() + (in.find_tensor("output.weight") ? 0 : 1));
  // F16 output: the matrices in F16, logits within F16's rounding.
  o.type = FormatId::F16;
  const auto out16 = (dir / "rot16.gguf").string();
  pipeline::rotate_gguf(src, out16, o);
  const GgufFile h(out16);
  EXPECT_EQ(h.find_tensor("blk.0.attn_q.weight")->type, FormatId::F16);
  EXPECT_EQ(h.find_tensor("blk.0.attn_norm.weight")->type, FormatId::F32);
  EXPECT_EQ(h.get_int("general.file_type"), 1);
  fs::remove_all(dir);
}

TEST(Rotation, LlamaCppRunsTheRotatedModelWithTheSameLogits) {
  QUANTLAB_REQUIRE_FILE(tiny_bin());
  QUANTLAB_REQUIRE_FILE(wiki());
  if (auto why = test::python_missing("llama_cpp, numpy"); !why.empty()) QUANTLAB_SKIP() << why;
  const auto dir = test::temp_dir("rotate-llama-cpp");
  const std::string src = tiny_gguf(dir);
  const auto out = (dir / "rot.gguf").string();
  pipeline::rotate_gguf(src, out, {});
  const auto r = test::run_command(test::shell_quote(test::python()) + " " +
                                   test::shell_quote((test::source_dir() / "tools/check_rotation_llama_cpp.py").string()) + " " +
                                   test::shell_quote(src) + " " + test::shell_quote(out) + " " + test::shell_quote(wiki().string()) +
                                   " 128 4");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::printf("llama.cpp, tiny model: PPL %.6f original, %.6f rotated; max |dlogit| %.3g (max |logit| %.3g)\n",
              j["ppl"][0].get<double>(), j["ppl"][1].get<double>(), j["max_abs_dlogit"].get<double>(),
              j["max_abs_logit"].get<double>());
  EXPECT_NEAR(j["ppl"][1].get<double>() / j["ppl"][0].get<double>(), 1.0, 1e-5);
  EXPECT_LE(j["max_abs_dlogit"].get<double>(), 1e-4 * j["max_abs_logit"].get<double>());
  fs::remove_all(dir);
}

TEST(Rotation, RefusesQuantizedWeightsNamingTheTensor) {
  QUANTLAB_REQUIRE_FILE(bench_q41());
  const auto dir = test::temp_dir("rotate-quantized");
  const auto out = (dir / "rot.gguf").string();
  test::expect_typed([&] { pipeline::rotate_gguf(bench_q41().string(), out, {}); }, bench_q41().string(), ".weight");
  EXPECT_FALSE(fs::exists(out));
  // The CLI: one line on stderr, non-zero exit, no file.
  const auto r = test::run_command(test::shell_quote(test::cli_path().string()) + " rotate --model " +
                                   test::shell_quote(bench_q41().string()) + " --out " + test::shell_quote(out));
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("token_embd.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("dequantize first"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}

TEST(Rotation, RefusesGemma3NamingTheArchitecture) {
  QUANTLAB_REQUIRE_FILE(gemma());
  fs::path file;
  for (const auto& e : fs::directory_iterator(gemma()))
    if (e.path().extension() == ".gguf") file = e.path();
  ASSERT_FALSE(file.empty());
  const auto dir = test::temp_dir("rotate-gemma");
  const auto out = (dir / "rot.gguf").string();
  const auto r = test::run_command(test::shell_quote(test::cli_path().string()) + " rotate --model " +
                                   test::shell_quote(file.string()) + " --out " + test::shell_quote(out));
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("gemma3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("post-attention and post-FFN"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}

// The bench model (SmolLM2-135M, n_embd 576 = 36·16, tied embedding): its F32 base rotated by the
// CLI's code path, read back, against the base on 512 tokens of WikiText-2; then in llama.cpp.
TEST(RotationSlow, BenchModelKeepsItsLogits) {
  QUANTLAB_REQUIRE_FILE(bench_f32());
  QUANTLAB_REQUIRE_FILE(wiki());
  const auto dir = test::temp_dir("rotate-bench");
  const auto out = (dir / "rot.gguf").string();
  pipeline::RotateGgufOptions o;
  o.seed = 1;
  const auto r = pipeline::rotate_gguf(bench_f32().string(), out, o);
  EXPECT_TRUE(r.untied);
  EXPECT_EQ(r.construction, "randomized hadamard 576 = paley-II(q=17) 36 x sylvester 16");
  {
    const Model original = load_model(bench_f32().string()), rotated = load_model(out);
    const LogitDiff d = compare_logits(original, rotated, wiki_tokens(bench_f32().string(), 512));
    std::printf("bench model: max |dlogit| %.3g over 512 tokens (max |logit| %.3g)\n", d.max_abs_diff, d.max_abs_logit);
    EXPECT_LE(d.max_abs_diff, 1e-4 * d.max_abs_logit);
  }
  if (auto why = test::python_missing("llama_cpp, numpy"); why.empty()) {
    const auto p = test::run_command(test::shell_quote(test::python()) + " " +
                                     test::shell_quote((test::source_dir() / "tools/check_rotation_llama_cpp.py").string()) +
                                     " " + test::shell_quote(bench_f32().string()) + " " + test::shell_quote(out) + " " +
                                     test::shell_quote(wiki().string()) + " 512 2");
    ASSERT_EQ(p.status, 0) << p.err;
    const auto j = nlohmann::json::parse(p.out);
    std::printf("llama.cpp, bench model: PPL %.6f original, %.6f rotated; max |dlogit| %.3g (max |logit| %.3g)\n",
                j["ppl"][0].get<double>(), j["ppl"][1].get<double>(), j["max_abs_dlogit"].get<double>(),
                j["max_abs_logit"].get<double>());
    EXPECT_NEAR(j["ppl"][1].get<double>() / j["ppl"][0].get<double>(), 1.0, 1e-5);
    EXPECT_LE(j["max_abs_dlogit"].get<double>(), 1e-4 * j["max_abs_logit"].get<double>());
  } else {
    std::printf("llama.cpp part not run: %s\n", why.c_str());
  }
  fs::remove_all(dir);
}
