#include "byte_tokenizer.hpp"
#include "quantlab/calib/packing.hpp"
#include "quantlab/text/script_mix.hpp"
#include "quantlab/core/error.hpp"
#include "test_support.hpp"

namespace quantlab::calib {
namespace {

using test_tokenizer::byte_tokenizer;
using test_tokenizer::kBos;
using test_tokenizer::kEos;

Sample text_sample(std::string text, std::string category = "") {
  Sample s;
  s.text = std::move(text);
  s.category = std::move(category);
  s.source = "mem";
  return s;
}

Sample chat_sample(std::string q, std::string a, std::string category = "") {
  Sample s;
  s.messages = {{"user", std::move(q)}, {"assistant", std::move(a)}};
  s.category = std::move(category);
  s.source = "mem";
  return s;
}

std::vector<int32_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(Packing, PerSampleBosOnceNeverMixes) {
  const text::ChatTemplate tmpl("{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }}{{ eos_token }}{% endfor %}",
                                "t", {"<s>", "</s>", {}, {}});
  FormatOptions fmt;
  fmt.chat_template = &tmpl;
  const std::vector<Sample> samples = {chat_sample("hi", "yo"), text_sample("raw")};
  PackingOptions opt;
  auto set = pack(samples, fmt, byte_tokenizer(), opt);
  ASSERT_EQ(set.sequences.size(), 2u);
  // The template writes <s> itself: exactly one BOS, special tokens parsed.
  std::vector<int32_t> want = {kBos};
  for (int32_t c : bytes("user:hi")) want.push_back(c);
  want.push_back(kEos);
  for (int32_t c : bytes("assistant:yo")) want.push_back(c);
  want.push_back(kEos);
  EXPECT_EQ(set.sequences[0].tokens, want);
  EXPECT_EQ(set.sequences[0].samples, std::vector<size_t>{0});
  // Raw text: the tokenizer adds its BOS.
  std::vector<int32_t> raw = {kBos, 'r', 'a', 'w'};
  EXPECT_EQ(set.sequences[1].tokens, raw);
}

TEST(Packing, PerSampleOverflowPolicies) {
  const std::vector<Sample> samples = {text_sample("abcdefgh"), text_sample("ab")};
  FormatOptions fmt;
  PackingOptions opt;
  opt.seq_len = 5;
  auto t = pack(samples, fmt, byte_tokenizer(), opt);
  ASSERT_EQ(t.sequences.size(), 2u);
  EXPECT_EQ(t.sequences[0].tokens, (std::vector<int32_t>{kBos, 'a', 'b', 'c', 'd'}));
  EXPECT_EQ(t.stats.truncated, 1u);
  opt.overflow = Overflow::Drop;
  auto d = pack(samples, fmt, byte_tokenizer(), opt);
  ASSERT_EQ(d.sequences.size(), 1u);
  EXPECT_EQ(d.stats.dropped, 1u);
  EXPECT_EQ(d.sequences[0].samples, std::vector<size_t>{1});
}

TEST(Packing, ConcatChunkCutsLikeAwq) {
  // Samples of 4, 6 and 3 tokens (BOS included) -> stream of 13 -> two blocks of 5, tail of 3.
  const std::vector<Sample> samples = {text_sample("abc"), text_sample("defgh"), text_sample("ij")};
  FormatOptions fmt;
  PackingOptions opt;
  opt.mode = Packing::ConcatChunk;
  opt.seq_len = 5;
  auto set = pack(samples, fmt, byte_tokenizer(), opt);
  ASSERT_EQ(set.sequences.size(), 2u);
  EXPECT_EQ(set.sequences[0].tokens, (std::vector<int32_t>{kBos, 'a', 'b', 'c', kBos}));
  EXPECT_EQ(set.sequences[1].tokens, (std::vector<int32_t>{'d', 'e', 'f', 'g', 'h'}));
  EXPECT_EQ(set.sequences[0].samples, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(set.stats.cut_samples, 1u);  // "defgh" spans both blocks
  EXPECT_EQ(set.stats.lost_samples, 1u);  // "ij" is all in the discarded tail
  EXPECT_EQ(set.stats.discarded_tail_tokens, 3u);
}

TEST(Packing, ImatrixChunkForcesBosAndKeepsSpecialsAsText) {
  const std::vector<Sample> samples = {text_sample("<s>abcdefg")};
  FormatOptions fmt;
  PackingOptions opt;
  opt.mode = Packing::ImatrixChunk;
  opt.seq_len = 4;
  auto set = pack(samples, fmt, byte_tokenizer(), opt);
  ASSERT_EQ(set.sequences.size(), 2u);  // 10 byte tokens -> 2 chunks of 4, tail 2
  EXPECT_EQ(set.sequences[0].tokens, (std::vector<int32_t>{kBos, 's', '>', 'a'}));
  EXPECT_EQ(set.sequences[1].tokens, (std::vector<int32_t>{kBos, 'c', 'd', 'e'}));
  EXPECT_EQ(set.stats.bos_overwrites, 2u);
  EXPECT_EQ(set.stats.discarded_tail_tokens, 2u);
}

TEST(Packing, SelectionIsSeededFilteredAndStratified) {
  std::vector<Sample> samples;
  for (int i = 0; i < 60; ++i) samples.push_back(text_sample(std::string(static_cast<size_t>(3 + i % 7), 'x'), i < 40 ? "a" : "b"));
  FormatOptions fmt;
  PackingOptions opt;
  opt.select.num_samples = 12;
  opt.select.seed = 7;
  opt.select.stratify = true;
  auto s1 = pack(samples, fmt, byte_tokenizer(), opt);
  auto s2 = pack(samples, fmt, byte_tokenizer(), opt);
  EXPECT_EQ(s1.selected, s2.selected);  // same seed, same selection
  EXPECT_EQ(s1.stats.categories["a"], 8u);  // 2:1 kept
  EXPECT_EQ(s1.stats.categories["b"], 4u);
  EXPECT_TRUE(std::is_sorted(s1.selected.begin(), s1.selected.end()));
  opt.select.seed = 8;
  EXPECT_NE(pack(samples, fmt, byte_tokenizer(), opt).selected, s1.selected);
  PackingOptions lf;
  lf.select.min_tokens = 5;  // BOS + 4 bytes
  lf.select.max_tokens = 8;
  auto f = pack(samples, fmt, byte_tokenizer(), lf);
  for (size_t i : f.selected) {
    EXPECT_GE(f.sample_tokens[i], 5u);
    EXPECT_LE(f.sample_tokens[i], 8u);
  }
  EXPECT_EQ(f.stats.filtered_short + f.stats.filtered_long + f.selected.size(), samples.size());
  EXPECT_GT(f.stats.filtered_short, 0u);
  EXPECT_GT(f.stats.filtered_long, 0u);
}

TEST(Packing, OrderedLanguageMixing) {
  std::vector<Sample> samples = {text_sample("富士山はとても高い山です。"), text_sample("The quick brown fox."),
                                 text_sample("キャリブレーションデータ"), text_sample("Another English line."),
                                 text_sample("Привет мир"), text_sample("Third English sample here.")};
  FormatOptions fmt;
  PackingOptions opt;
  opt.select.language_order = {"en", "ja"};
  opt.select.num_samples = 4;
  auto set = pack(samples, fmt, byte_tokenizer(), opt);
  ASSERT_EQ(set.selected.size(), 4u);
  EXPECT_EQ(set.stats.languages["en"], 2u);
  EXPECT_EQ(set.stats.languages["ja"], 2u);
  EXPECT_EQ(set.stats.filtered_language, 1u);  // the Russian line
  // English first, then Japanese.
  for (size_t k = 0; k < 2; ++k) EXPECT_EQ(text::language_of(samples[set.selected[k]].text), "en");
  for (size_t k = 2; k < 4; ++k) EXPECT_EQ(text::language_of(samples[set.selected[k]].text), "ja");
}

TEST(Packing, BadOptionsAreErrors) {
  EXPECT_THROW(parse_packing("chunks"), Error);
  EXPECT_THROW(parse_overflow("wrap"), Error);
  PackingOptions opt;
  opt.seq_len = 0;
  EXPECT_THROW(pack({text_sample("a")}, FormatOptions{}, byte_tokenizer(), opt), Error);
  // A chat sample whose template raises names the sample's file and line.
  const text::ChatTemplate strict("{{ raise_exception('roles must alternate') }}", "strict");
  FormatOptions fmt;
  fmt.chat_template = &strict;
  Sample s = chat_sample("q", "a");
  s.source = "data.jsonl";
  s.line = 7;
  try {
    pack({s}, fmt, byte_tokenizer(), PackingOptions{});
    FAIL();
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("data.jsonl:7"), std::string::npos) << w;
    EXPECT_NE(w.find("roles must alternate"), std::string::npos) << w;
  }
}

TEST(ScriptMix, CountsScriptsAndLabelsLanguages) {
  const auto c = text::count_scripts("Aa ひらカタ漢字 한글 Жж 12!");
  EXPECT_EQ(c[text::Script::Latin], 2u);
  EXPECT_EQ(c[text::Script::Hiragana], 2u);
  EXPECT_EQ(c[text::Script::Katakana], 2u);
  EXPECT_EQ(c[text::Script::Han], 2u);
  EXPECT_EQ(c[text::Script::Hangul], 2u);
  EXPECT_EQ(c[text::Script::Cyrillic], 2u);
  EXPECT_EQ(c.digits, 2u);
  EXPECT_EQ(c.punctuation, 1u);
  EXPECT_EQ(text::language_of("量子化モデルの評価"), "ja");
  EXPECT_EQ(text::language_of("量子化模型的评估"), "zh");
  EXPECT_EQ(text::language_of("Quantization of LLMs"), "en");
  EXPECT_EQ(text::language_of("한국어 문장"), "ko");
  EXPECT_EQ(text::language_of("12345 !!"), "none");
}

}  // namespace
}  // namespace quantlab::calib
