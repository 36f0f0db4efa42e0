// Every SIMD path of the CPU kernels (AVX-512, AVX2, forced one at a time) against the portable
// path, bit for bit: matmul for every registry format it takes, at awkward shapes (odd token
// counts, widths not a multiple of 256 or of 16), and the ops of a forward pass; then the CLI's
// perplexity under QUANTLAB_CPU=avx2 against the AVX-512 figure. A path this CPU lacks is skipped
// with one line saying so.
#include "quantlab/backend/matmul.hpp"
#include "quantlab/backend/ops.hpp"
#include "src/backend/cpu/kernel_table.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace quantlab {
namespace cpu {
// Test names and failure messages show the path's name.
void PrintTo(SimdPath p, std::ostream* os) { *os << simd_path_name(p); }
}  // namespace cpu
namespace {

using cpu::SimdPath;

// Forces a path for the scope of a test and restores the previous one.
class ForcedPath {
 public:
  explicit ForcedPath(SimdPath p) : saved_(cpu::simd_path()) { cpu::force_simd_path(p); }
  ~ForcedPath() { cpu::force_simd_path(saved_); }
  ForcedPath(const ForcedPath&) = delete;
  ForcedPath& operator=(const ForcedPath&) = delete;

 private:
  SimdPath saved_;
};

std::vector<float> random_values(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Formats the matmul takes and the tests can make: every registry format with a decoder and an
// encoder (IQ formats need an importance vector to encode; ones are given).
std::vector<FormatId> matmul_formats() {
  std::vector<FormatId> out;
  for (const FormatTraits* f : all_formats())
    if (f->to_float && f->from_float) out.push_back(f->id);
  return out;
}

std::vector<uint8_t> encode(FormatId fmt, const std::vector<float>& src, int64_t rows, int64_t cols) {
  const auto& f = format_traits(fmt);
  const std::vector<float> importance(size_t(cols), 1.0f);
  std::vector<uint8_t> bytes(row_bytes(fmt, cols) * size_t(rows));
  for (int64_t r = 0; r < rows; ++r)
    f.from_float(src.data() + r * cols, bytes.data() + size_t(r) * row_bytes(fmt, cols), cols, importance.data());
  return bytes;
}

class SimdParity : public ::testing::TestWithParam<SimdPath> {
 protected:
  void SetUp() override {
    if (!cpu::simd_path_supported(GetParam()))
      QUANTLAB_SKIP() << "this CPU (or build) has no " << cpu::simd_path_name(GetParam()) << " path";
  }
};

TEST_P(SimdParity, MatmulEveryFormatEqualsPortable) {
  const SimdPath path = GetParam();
  const int64_t rows = 37;
  int checked = 0;
  for (const FormatId fmt : matmul_formats()) {
    const int64_t bs = format_traits(fmt).block_size;
    // Widths: not a multiple of 16 / of 256 where the block allows it, and one beyond the
    // 1024 above which large batches are blocked over the input dimension.
    std::vector<int64_t> widths;
    if (bs == 1) widths = {100, 1300};
    else if (bs < 256) widths = {19 * bs, 41 * bs};
    else widths = {bs, 5 * bs};
    for (const int64_t cols : widths) {
      const std::vector<float> wsrc = random_values(rows * cols, 7, 0.5f);
      const std::vector<uint8_t> bytes = encode(fmt, wsrc, rows, cols);
      const WeightMatrix w = make_weight_matrix(fmt, bytes.data(), rows, cols);
      for (const int64_t tokens : {1, 3, 7, 33}) {
        const std::vector<float> x = random_values(tokens * cols, 11, 1.5f);
        std::vector<float> ref(size_t(tokens * rows)), one(ref.size()), three(ref.size());
        matmul_portable(w, x.data(), tokens, ref.data());
        {
          ForcedPath forced(path);
          ThreadPool p1(1), p3(3);
          matmul(p1, w, x.data(), tokens, one.data());
          matmul(p3, w, x.data(), tokens, three.data());
        }
        ASSERT_TRUE(same_bits(ref, one)) << format_traits(fmt).name << " cols=" << cols << " tokens=" << tokens;
        ASSERT_TRUE(same_bits(ref, three)) << format_traits(fmt).name << " cols=" << cols << " tokens=" << tokens
                                           << " (3 threads)";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 40);  // the registry really provided the formats
}

TEST_P(SimdParity, DotAndRowConversionEqualPortable) {
  const std::vector<float> a = random_values(300, 1), b = random_values(300, 2);
  std::vector<uint16_t> h(300), bf(300);
  for (size_t i = 0; i < h.size(); ++i) h[i] = uint16_t(i * 211u + 7u) & 0x7bff, bf[i] = uint16_t(i * 97u + 3u);
  for (const int64_t n : {1, 15, 16, 17, 33, 100, 300}) {
    float ref_dot;
    std::vector<float> ref_h(static_cast<size_t>(n)), ref_bf(static_cast<size_t>(n)), got_h(static_cast<size_t>(n)), got_bf(static_cast<size_t>(n));
    {
      ForcedPath forced(SimdPath::Portable);
      ref_dot = dot_f32(a.data(), b.data(), n);
      row_to_f32(FormatId::F16, h.data(), ref_h.data(), n);
      row_to_f32(FormatId::BF16, bf.data(), ref_bf.data(), n);
    }
    ForcedPath forced(GetParam());
    EXPECT_EQ(ref_dot, dot_f32(a.data(), b.data(), n)) << "n=" << n;
    row_to_f32(FormatId::F16, h.data(), got_h.data(), n);
    row_to_f32(FormatId::BF16, bf.data(), got_bf.data(), n);
    EXPECT_TRUE(same_bits(ref_h, got_h)) << "f16 n=" << n;
    EXPECT_TRUE(same_bits(ref_bf, got_bf)) << "bf16 n=" << n;
  }
}

TEST_P(SimdParity, ActivationQuantizationEqualsPortable) {
  // Random blocks, an all-zero block, and values that land exactly on .5 after scaling (ties to even).
  std::vector<float> x = random_values(32 * 40, 21, 2.0f);
  for (int j = 0; j < 32; ++j) x[size_t(32 + j)] = 0.0f;
  for (int j = 0; j < 32; ++j) x[size_t(64 + j)] = float(j - 16) * 0.5f + (j == 0 ? 127.0f : 0.0f);
  std::vector<cpu::ActivationBlock> ref(40), got(40);
  cpu::portable_kernels()->quantize_q8(x.data(), ref.data(), int64_t(x.size()));
  const cpu::KernelTable* t = GetParam() == SimdPath::Avx512 ? cpu::avx512_kernels() : cpu::avx2_kernels();
  t->quantize_q8(x.data(), got.data(), int64_t(x.size()));
  for (size_t b = 0; b < ref.size(); ++b) {
    EXPECT_EQ(ref[b].d, got[b].d) << b;
    EXPECT_EQ(ref[b].s, got[b].s) << b;
    EXPECT_EQ(ref[b].qsum, got[b].qsum) << b;
    EXPECT_EQ(0, std::memcmp(ref[b].q, got[b].q, sizeof(ref[b].q))) << b;
  }
}

// Attention with GQA, head sizes below, at and above the 16-lane blocks, windows, and prefill
// after earlier positions; all the ops of a block besides.
struct OpsOutputs {
  std::vector<std::vector<float>> all;
};

OpsOutputs run_ops(SimdPath path) {
  ForcedPath forced(path);
  OpsOutputs out;
  ThreadPool pool(2);
  for (const int64_t head_dim : {64, 80, 256, 272}) {
    for (const int64_t window : {0, 5}) {
      for (const int64_t tokens : {1, 3, 7, 33}) {
        AttentionShape s;
        s.n_head = 6;
        s.n_head_kv = 2;
        s.head_dim = head_dim;
        s.scale = 0.125f;
        s.window = window;
        const int64_t first_pos = 70, ctx = first_pos + tokens, stride = ctx + 3;
        const std::vector<float> q = random_values(tokens * s.n_head * head_dim, 3);
        const std::vector<float> k = random_values(s.n_head_kv * head_dim * stride, 4);
        const std::vector<float> v = random_values(ctx * s.n_head_kv * head_dim, 5);
        std::vector<float> o(q.size());
        attention(pool, s, q.data(), k.data(), stride, v.data(), first_pos, tokens, o.data());
        out.all.push_back(std::move(o));
      }
    }
  }
  const int64_t n = 333;
  std::vector<float> x = random_values(n, 8, 3.0f), g = random_values(n, 9, 4.0f), u = random_values(n, 10);
  std::vector<float> y(static_cast<size_t>(n));
  rms_norm(x.data(), u.data(), y.data(), n, 1e-6f);
  out.all.push_back(y);
  std::vector<float> sm = x;
  softmax(sm.data(), n);
  out.all.push_back(sm);
  swiglu(g.data(), u.data(), y.data(), n);
  out.all.push_back(y);
  geglu(g.data(), u.data(), y.data(), n);
  out.all.push_back(y);
  for (const RopeStyle style : {RopeStyle::Normal, RopeStyle::NeoX}) {
    RopeParams p;
    p.style = style;
    p.n_rot = 48;
    std::vector<float> c(24), sn(24), r = random_values(3 * 64, 12);
    rope_angles(p, 1234, c.data(), sn.data());
    rope_apply(p, c.data(), sn.data(), r.data(), 3, 64);
    out.all.push_back(r);
  }
  return out;
}

TEST_P(SimdParity, OpsEqualPortable) {
  const OpsOutputs ref = run_ops(SimdPath::Portable);
  const OpsOutputs got = run_ops(GetParam());
  ASSERT_EQ(ref.all.size(), got.all.size());
  for (size_t i = 0; i < ref.all.size(); ++i) EXPECT_TRUE(same_bits(ref.all[i], got.all[i])) << "output " << i;
}

INSTANTIATE_TEST_SUITE_P(Paths, SimdParity, ::testing::Values(SimdPath::Avx512, SimdPath::Avx2),
                         [](const ::testing::TestParamInfo<SimdPath>& i) {
                           return std::string(cpu::simd_path_name(i.param));
                         });

TEST(SimdPath, NamesThePathInUse) {
  ForcedPath forced(SimdPath::Portable);
  EXPECT_STREQ("portable", matmul_kernel_name());
}

// The user-visible figure: perplexity of the bench model, 2 chunks of 128, identical under the
// AVX2 and AVX-512 paths of one binary.
std::string ppl_json(const char* path_name) {
  const auto model = test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";
  const auto text = test::assets_dir() / "data/wikitext-2-raw/wiki.test.raw";
  const std::string cmd = std::string("QUANTLAB_CPU=") + path_name + " " + test::cli_path().string() +
                          " eval ppl --model " + model.string() + " --file " + text.string() +
                          " --ctx 128 --chunks 2 --threads 2 --json 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) ADD_FAILURE() << cmd << ": " << out;
  return out;
}

TEST(SimdPathCli, EvalPplUnderAvx2EqualsAvx512) {
  QUANTLAB_REQUIRE_FILE(test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
  QUANTLAB_REQUIRE_FILE(test::assets_dir() / "data/wikitext-2-raw/wiki.test.raw");
  QUANTLAB_REQUIRE_FILE(test::cli_path());
  for (const SimdPath p : {SimdPath::Avx512, SimdPath::Avx2})
    if (!cpu::simd_path_supported(p)) QUANTLAB_SKIP() << "this CPU (or build) has no " << cpu::simd_path_name(p) << " path";
  const auto a = nlohmann::json::parse(ppl_json("avx512"));
  const auto b = nlohmann::json::parse(ppl_json("avx2"));
  EXPECT_EQ(a.at("mean_nll").get<double>(), b.at("mean_nll").get<double>());
  EXPECT_EQ(a.at("running_ppl"), b.at("running_ppl"));
  EXPECT_EQ(2, a.at("n_chunks").get<int>());
}

}  // namespace
}  // namespace quantlab
