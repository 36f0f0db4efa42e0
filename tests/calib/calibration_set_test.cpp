#include "byte_tokenizer.hpp"
#include "quantlab/calib/calibration_set.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "test_support.hpp"

#include <fstream>

namespace quantlab::calib {
namespace {

TEST(CalibrationSet, ReadsFormatsPacksAndRecordsProvenance) {
  const auto path = (test::temp_dir("calib-set") / "dolly.jsonl").string();
  const std::string content =
      "{\"instruction\":\"Q1\",\"context\":\"\",\"response\":\"A1\",\"category\":\"qa\"}\n"
      "{\"instruction\":\"Q2\",\"context\":\"ctx\",\"response\":\"A2\",\"category\":\"summarization\"}\n"
      "{\"instruction\":\"Q3\",\"context\":\"\",\"response\":\"A3\",\"category\":\"qa\"}\n";
  std::ofstream(path, std::ios::binary) << content;
  const text::ChatTemplate tmpl("{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}",
                                "tmpl", {"<s>", "</s>", {}, {}});
  CalibrationOptions opt;
  opt.format.chat_template = &tmpl;
  opt.packing.select.num_samples = 2;
  opt.packing.select.seed = 3;
  const auto set = build_calibration_set(path, opt, test_tokenizer::byte_tokenizer());
  ASSERT_EQ(set.sequences.size(), 2u);
  for (const auto& seq : set.sequences) {
    EXPECT_EQ(seq.tokens.front(), test_tokenizer::kBos);
    EXPECT_EQ(std::count(seq.tokens.begin(), seq.tokens.end(), test_tokenizer::kBos), 1);
    EXPECT_EQ(seq.tokens.back(), test_tokenizer::kEos);
    EXPECT_EQ(seq.samples.size(), 1u);
  }
  const Provenance& p = set.provenance;
  EXPECT_EQ(p.dataset_name, "dolly.jsonl");
  EXPECT_EQ(p.dataset_sha256, sha256_hex(content.data(), content.size()));
  EXPECT_EQ(p.dataset_format, "dolly");
  EXPECT_EQ(p.samples_in_file, 3u);
  EXPECT_EQ(p.samples_used, 2u);
  EXPECT_EQ(p.packing, "per-sample");
  EXPECT_EQ(p.template_kind, "chat-template");
  EXPECT_EQ(p.template_name, "tmpl");
  EXPECT_EQ(p.seed, 3u);
  // Everything dropped by the length filter is an error, not an empty calibration set.
  opt.packing.select.min_tokens = 10000;
  EXPECT_THROW(build_calibration_set(path, opt, test_tokenizer::byte_tokenizer()), Error);
}

}  // namespace
}  // namespace quantlab::calib
