// KL divergence runs on a real model: a model against itself diverges by nothing, the saved-file
// path gives exactly what the side-by-side path gives, and its PPL agrees with eval ppl's.
#include "model/reference_fixture.hpp"
#include "quantlab/eval/kl_divergence.hpp"

#include <gtest/gtest.h>

namespace quantlab {
namespace {

using test::aidreams_model;
using test::read_reference;

TEST(KlDivergence, ModelAgainstItselfAndThroughAFile) {
  QUANTLAB_REQUIRE_FILE(aidreams_model());
  const auto ref = read_reference();
  const Model model = load_model(aidreams_model());
  ThreadPool pool(2);
  Session a(model, pool, ref.ppl_ctx), b(model, pool, ref.ppl_ctx);
  PerplexityOptions o;
  o.n_ctx = ref.ppl_ctx;
  o.bos_id = model.config.bos_id;

  const KldSummary side = kl_divergence(a, b, ref.ppl_tokens, o);
  EXPECT_EQ(side.count, 4 * (16 - 1 - 8));
  EXPECT_NEAR(side.kld_mean, 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(side.same_top, 1.0);
  const PerplexityResult p = perplexity(a, ref.ppl_tokens, o);
  EXPECT_NEAR(side.ppl, p.ppl, 1e-7 * p.ppl);  // float vs double softmax details

  const auto path = (test::temp_dir("kl") / "base.kld").string();
  save_base_logits(a, ref.ppl_tokens, o, path);
  const BaseLogitsFile file(path);
  EXPECT_EQ(file.n_chunk(), 4);
  const KldSummary saved = kl_divergence(b, file, o);
  EXPECT_EQ(saved.count, side.count);
  EXPECT_DOUBLE_EQ(saved.kld_mean, side.kld_mean);
  EXPECT_DOUBLE_EQ(saved.ppl_base, side.ppl_base);
  EXPECT_DOUBLE_EQ(saved.dp_rms, side.dp_rms);
}

}  // namespace
}  // namespace quantlab
