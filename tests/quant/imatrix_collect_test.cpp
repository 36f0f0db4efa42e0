// Importance-matrix collection on the real tiny model (aidreams260K): llama.cpp's chunk mode and
// the calibration-sequence mode agree where they describe the same computation.
#include "quantlab/core/error.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/quant/imatrix_collect.hpp"
#include "test_support.hpp"

#include <random>

namespace quantlab {
namespace {

std::string aidreams() { return (test::shared_dir() / "models/aidreams260K/aidreams260K.bin").string(); }

std::vector<int32_t> random_tokens(const Model& m, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> pick(3, int32_t(m.config.n_vocab) - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = pick(rng);
  return t;
}

ImatrixOptions options(const Model& m, int64_t n_ctx, int threads) {
  ImatrixOptions o;
  o.n_ctx = n_ctx;
  o.add_bos = m.config.add_bos;
  o.bos_id = m.config.bos_id;
  o.threads = threads;
  return o;
}

TEST(ImatrixCollect, OneSequenceEqualsTheSameChunk) {
  QUANTLAB_REQUIRE_FILE(aidreams());
  const Model m = load_model(aidreams());
  std::vector<int32_t> chunk = random_tokens(m, 64, 1);
  chunk[0] = m.config.bos_id;  // what chunk mode puts first
  const Imatrix a = collect_imatrix(m, std::span<const int32_t>(chunk), options(m, 64, 1));
  const Imatrix b = collect_imatrix(m, std::vector<std::vector<int32_t>>{chunk}, options(m, 64, 1));
  ASSERT_FALSE(a.entries.empty());
  ASSERT_EQ(a.entries.size(), b.entries.size());
  for (const auto& [name, e] : a.entries) {
    const auto& f = b.entries.at(name);
    EXPECT_EQ(e.count, f.count) << name;
    EXPECT_EQ(e.sum_x2, f.sum_x2) << name;
  }
  EXPECT_EQ(b.chunk_count, 1);
  EXPECT_EQ(b.chunk_size, 64);
}

TEST(ImatrixCollect, ShortSequencesCountEveryTokenAndThreadsDoNotMatter) {
  QUANTLAB_REQUIRE_FILE(aidreams());
  const Model m = load_model(aidreams());
  // Samples shorter than llama.cpp's 16-token threshold still count: they are prefills, not decode.
  const std::vector<std::vector<int32_t>> seqs = {random_tokens(m, 5, 2), random_tokens(m, 40, 3), random_tokens(m, 12, 4)};
  const Imatrix one = collect_imatrix(m, seqs, options(m, 512, 1));
  const Imatrix two = collect_imatrix(m, seqs, options(m, 512, 2));
  ASSERT_FALSE(one.entries.empty());
  for (const auto& [name, e] : one.entries) {
    EXPECT_EQ(e.count, 57) << name;
    EXPECT_EQ(e.sum_x2, two.entries.at(name).sum_x2) << name;
  }
  EXPECT_EQ(one.chunk_count, 3);
  EXPECT_EQ(one.chunk_size, 40);
}

TEST(ImatrixCollect, RejectsAnEmptyCalibrationSet) {
  QUANTLAB_REQUIRE_FILE(aidreams());
  const Model m = load_model(aidreams());
  EXPECT_THROW(collect_imatrix(m, std::vector<std::vector<int32_t>>{}, options(m, 512, 1)), Error);
  EXPECT_THROW(collect_imatrix(m, std::vector<std::vector<int32_t>>{{}}, options(m, 512, 1)), Error);
}

}  // namespace
}  // namespace quantlab
