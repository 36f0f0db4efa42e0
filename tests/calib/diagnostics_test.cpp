#include "byte_tokenizer.hpp"
#include "quantlab/calib/diagnostics.hpp"
#include "quantlab/calib/model_template.hpp"
#include "quantlab/core/error.hpp"
#include "test_support.hpp"

#include <fstream>

namespace quantlab::calib {
namespace {

using test_tokenizer::byte_tokenizer;

const text::ChatTemplate& chatml() {
  static const text::ChatTemplate t(
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
      "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
      "chatml", {{}, "<|im_end|>", {}, {}});
  return t;
}

Dataset chat_data(size_t n) {
  Dataset ds;
  ds.path = "chat.jsonl";
  ds.sha256 = std::string(64, 'a');
  ds.shape = DatasetShape::Messages;
  for (size_t i = 0; i < n; ++i) {
    Sample s;
    s.messages = {{"user", "Question number " + std::to_string(i) + "?"}, {"assistant", "Answer " + std::to_string(i) + "."}};
    s.category = i % 3 == 0 ? "qa" : "chat";
    s.source = ds.path;
    s.line = i + 1;
    ds.samples.push_back(s);
  }
  return ds;
}

bool has_finding(const Diagnostics& d, const std::string& code) {
  for (const auto& f : d.findings)
    if (f.code == code) return true;
  return false;
}

TEST(Diagnostics, ChatModelOnRawTextIsFlagged) {
  Dataset ds;
  ds.path = "wiki.txt";
  ds.shape = DatasetShape::TextParagraphs;
  for (int i = 0; i < 3; ++i) {
    Sample s;
    s.text = "Plain paragraph " + std::to_string(i);
    ds.samples.push_back(s);
  }
  DiagnoseOptions opt;
  opt.model_has_chat_template = true;
  opt.format.chat_template = &chatml();
  const auto d = diagnose(ds, opt);
  EXPECT_TRUE(has_finding(d, "no-chat-template"));
  EXPECT_EQ(d.text_samples, 3u);
  EXPECT_EQ(d.end_of_turn, "<|im_end|>");
  EXPECT_EQ(d.samples_with_end_of_turn, 0u);
  // The same data as conversations through the template raises no such finding.
  DiagnoseOptions chat_opt = opt;
  const auto c = diagnose(chat_data(3), chat_opt);
  EXPECT_FALSE(has_finding(c, "no-chat-template"));
  EXPECT_FALSE(has_finding(c, "end-of-turn-missing"));
  EXPECT_EQ(c.samples_with_end_of_turn, 3u);
}

TEST(Diagnostics, ConcatChunkCutsConversationsMidTurn) {
  const Dataset ds = chat_data(20);
  DiagnoseOptions opt;
  opt.model_has_chat_template = true;
  opt.format.chat_template = &chatml();
  const TokenizerFn tok = byte_tokenizer();
  opt.tokenizer = &tok;
  opt.packing.seq_len = 64;
  const auto per = diagnose(ds, opt);
  ASSERT_TRUE(per.packing.has_value());
  EXPECT_EQ(per.packing->cut_samples, 0u);
  EXPECT_FALSE(has_finding(per, "concat-cuts-turns"));
  EXPECT_EQ(per.packing->sequences, 20u);
  opt.packing.mode = Packing::ConcatChunk;
  const auto cc = diagnose(ds, opt);
  EXPECT_GT(cc.packing->cut_samples, 0u);
  EXPECT_TRUE(has_finding(cc, "concat-cuts-turns"));
  // Every token of a sample is in some block except the tail: cut + lost + whole = selected.
  EXPECT_LE(cc.packing->cut_samples + cc.packing->lost_samples, 20u);
  opt.packing.mode = Packing::ImatrixChunk;
  const auto im = diagnose(ds, opt);
  EXPECT_TRUE(has_finding(im, "imatrix-specials-as-text"));
  // Special tokens are not parsed, so <|im_end|> (id 258) never reaches the model.
  EXPECT_TRUE(has_finding(im, "end-of-turn-missing"));
}

TEST(Diagnostics, NoiseDuplicatesCategoriesAndProvenance) {
  Dataset ds = chat_data(10);
  ds.samples[1].messages[0].content = "see <a href=\"x\">this</a> at https://example.com !!!!!!!!!!";
  ds.samples[2] = ds.samples[3];
  ds.samples[4].messages[1].content = "";
  DiagnoseOptions opt;
  opt.format.chat_template = &chatml();
  opt.packing.select.seed = 5;
  const auto d = diagnose(ds, opt);
  EXPECT_EQ(d.noise.with_markup, 1u);
  EXPECT_EQ(d.noise.with_urls, 1u);
  EXPECT_EQ(d.noise.with_repeated_chars, 1u);
  EXPECT_EQ(d.noise.empty_responses, 1u);
  EXPECT_EQ(d.duplicate_samples, 1u);
  EXPECT_TRUE(has_finding(d, "duplicates"));
  EXPECT_TRUE(has_finding(d, "empty-responses"));
  EXPECT_EQ(d.categories.size(), 2u);
  EXPECT_GT(d.category_entropy_bits, 0.5);
  EXPECT_EQ(d.provenance.dataset_name, "chat.jsonl");
  EXPECT_EQ(d.provenance.template_kind, "chat-template");
  EXPECT_EQ(d.provenance.template_sha256.size(), 64u);
  EXPECT_EQ(d.provenance.packing, "per-sample");
  EXPECT_EQ(d.provenance.seed, 5u);
  const auto round = Provenance::from_json(d.provenance.to_json());
  EXPECT_EQ(round.to_json(), d.provenance.to_json());
  auto broken = d.provenance.to_json();
  broken["packing"].erase("mode");
  try {
    Provenance::from_json(broken);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "packing.mode");
  }
  const auto j = d.to_json();
  EXPECT_EQ(j["samples"]["total"], 10);
  EXPECT_TRUE(j["findings"].is_array());
  EXPECT_FALSE(d.to_text().empty());
}

// Word-trigram diversity: one question pattern with the nouns swapped (CREPE's shape) is flagged;
// varied sentences are not; system prompts are left out of the count.
TEST(Diagnostics, TemplatedPhrasingIsLowDiversity) {
  const char* things[] = {"gloves", "towels", "soap", "water", "a sponge", "the lid", "a brush", "the tap"};
  Dataset templated;
  templated.path = "crepe-like.jsonl";
  for (size_t i = 0; i < 200; ++i) {
    Sample s;
    s.messages = {{"system", "Deduce the likelihood change based on the given context, and answer in one word only."},
                  {"user", std::string("I'm trying to clean up the kitchen counter. At this point, how will 'use ")
                               .append(things[i % 8])
                               .append("' change the likelihood of 'touch ")
                               .append(things[(i / 8) % 8])
                               .append("'? Answer with more likely, less likely, or equally likely.")},
                  {"assistant", i % 2 ? "less likely" : "more likely"}};
    templated.samples.push_back(s);
  }
  const auto d = diagnose(templated, {});
  EXPECT_GT(d.diversity.word_trigrams, 1000u);
  EXPECT_LT(d.diversity.distinct_ratio(), 0.25);
  EXPECT_TRUE(has_finding(d, "low-diversity"));
  EXPECT_EQ(d.to_json()["diversity"]["word_trigrams"], d.diversity.word_trigrams);

  Dataset varied;
  varied.path = "varied.jsonl";
  for (size_t i = 0; i < 200; ++i) {
    Sample s;
    std::string text;
    for (size_t k = 0; k < 12; ++k) text.append("w").append(std::to_string((i * 12 + k) * 7919 % 5003)).append(" ");
    s.text = text;
    varied.samples.push_back(s);
  }
  const auto v = diagnose(varied, {});
  EXPECT_EQ(v.diversity.word_trigrams, 200u * 10u);
  EXPECT_GT(v.diversity.distinct_ratio(), 0.9);
  EXPECT_FALSE(has_finding(v, "low-diversity"));
}

TEST(Diagnostics, DistributionPercentiles) {
  const auto d = distribution_of({5, 1, 4, 2, 3, 6, 7, 8, 9, 10});
  EXPECT_EQ(d.min, 1);
  EXPECT_EQ(d.max, 10);
  EXPECT_DOUBLE_EQ(d.mean, 5.5);
  EXPECT_EQ(d.p50, 5);
  EXPECT_EQ(d.p90, 9);
  EXPECT_EQ(d.p10, 1);
}

TEST(ModelTemplate, ReadsGgufChatTemplate) {
  const auto gguf = test::shared_dir() / "data" / "tokenizer-tests" / "ggml-vocab-phi-3.gguf";
  QUANTLAB_REQUIRE_FILE(gguf);
  const auto t = load_model_chat_template(gguf.string());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->tokens().bos_token.value_or(""), "<s>");
  EXPECT_EQ(t->end_of_turn(), "<|end|>");
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "こんにちは"}}});
  EXPECT_NE(t->apply(msgs, true).find("<|user|>\nこんにちは<|end|>"), std::string::npos);
  // A GGUF without a template is a base model: no template, no error.
  const auto base = test::shared_dir() / "data" / "tokenizer-tests" / "ggml-vocab-gpt-2.gguf";
  QUANTLAB_REQUIRE_FILE(base);
  EXPECT_FALSE(load_model_chat_template(base.string()).has_value());
  EXPECT_THROW(load_model_chat_template("/nonexistent/model.bin"), Error);
}

TEST(ModelTemplate, ReadsHuggingFaceFolder) {
  const auto dir = test::temp_dir("model-template");
  std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "</s>", "chat_template": "{{ messages[0].content }}{{ eos_token }}"})";
  const auto t = load_model_chat_template(dir.string());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->apply(nlohmann::ordered_json::array({{{"role", "user"}, {"content", "x"}}}), false), "x</s>");
  const auto base = test::temp_dir("model-template-base");
  std::ofstream(base / "tokenizer_config.json") << R"({"eos_token": "</s>"})";
  EXPECT_FALSE(load_model_chat_template(base.string()).has_value());
}

}  // namespace
}  // namespace quantlab::calib
