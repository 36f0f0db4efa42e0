#include "src/text/pretokenizer_patterns.hpp"

#include <map>

namespace quantlab::text_detail {
namespace {

// The patterns are written as the upstream tokenizers define them; PCRE2 runs them directly
// (case-insensitive groups included), so no rewriting of (?i:...) is needed.
const std::string kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const std::string kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum class Family {
  Default, Llama3, DeepseekLlm, DeepseekCoder, Falcon, StarCoder, Gpt2, Qwen2, Poro, ChatGlm4, Viking, Tekken,
  Bloom, SmollmLike,
};

struct Entry {
  Family family;
  bool ignore_merges = false;
  bool force_add_bos = false;
};

const std::map<std::string, Entry>& names() {
  static const std::map<std::string, Entry> m = {
      {"default", {Family::Default}},
      {"llama3", {Family::Llama3, true, true}},
      {"llama-v3", {Family::Llama3, true, true}},
      {"llama-bpe", {Family::Llama3, true, true}},
      {"falcon3", {Family::Llama3, true, true}},
      {"pixtral", {Family::Llama3, true, true}},
      {"dbrx", {Family::Llama3}},
      {"smaug-bpe", {Family::Llama3}},
      {"deepseek-llm", {Family::DeepseekLlm}},
      {"deepseek-coder", {Family::DeepseekCoder}},
      {"falcon", {Family::Falcon}},
      {"mpt", {Family::Gpt2}},
      {"gpt-2", {Family::Gpt2}},
      {"phi-2", {Family::Gpt2}},
      {"jina-es", {Family::Gpt2}},
      {"jina-de", {Family::Gpt2}},
      {"jina-v1-en", {Family::Gpt2}},
      {"jina-v2-es", {Family::Gpt2}},
      {"jina-v2-de", {Family::Gpt2}},
      {"jina-v2-code", {Family::Gpt2}},
      {"roberta-bpe", {Family::Gpt2}},
      {"olmo", {Family::Gpt2}},
      {"jais", {Family::Gpt2}},
      {"gigachat", {Family::Gpt2}},
      {"exaone4", {Family::Gpt2}},
      {"starcoder", {Family::StarCoder}},
      {"refact", {Family::StarCoder}},
      {"command-r", {Family::StarCoder}},
      {"smollm", {Family::StarCoder}},
      {"codeshell", {Family::StarCoder}},
      {"exaone", {Family::StarCoder}},
      {"minerva-7b", {Family::StarCoder}},
      {"qwen2", {Family::Qwen2}},
      {"deepseek-r1-qwen", {Family::Qwen2}},
      {"stablelm2", {Family::Qwen2}},
      {"megrez", {Family::Qwen2}},
      {"poro-chat", {Family::Poro}},
      {"bloom", {Family::Poro}},
      {"gpt3-finnish", {Family::Poro}},
      {"chatglm-bpe", {Family::ChatGlm4}},
      {"glm4", {Family::ChatGlm4}},
      {"viking", {Family::Viking}},
      {"tekken", {Family::Tekken, true, true}},
  };
  return m;
}

std::vector<std::string> regexes(Family f) {
  switch (f) {
    case Family::Llama3:
    case Family::ChatGlm4:
      return {kLlama3};
    case Family::DeepseekLlm:
      return {
          "[\r\n]",
          "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
          "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
          "\\s+$",
          "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
          "\\p{N}+",
      };
    case Family::DeepseekCoder:
      return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"};
    case Family::Falcon:
      return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    case Family::StarCoder:
    case Family::SmollmLike:
      return {"\\p{N}", kGpt2};
    case Family::Gpt2:
      return {kGpt2};
    case Family::Qwen2:
      return {kQwen2};
    case Family::Poro:
    case Family::Bloom:
      return {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"};
    case Family::Viking:
      return {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+", "\\p{N}"};
    case Family::Tekken:
      return {
          "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    case Family::Default:
      break;
  }
  return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
}

}  // namespace

std::optional<PretokenizerRecipe> pretokenizer_recipe(const std::string& pre) {
  const auto it = names().find(pre);
  if (it == names().end()) return std::nullopt;
  return PretokenizerRecipe{regexes(it->second.family), it->second.ignore_merges, it->second.force_add_bos};
}

const std::string& gpt2_pretokenizer_regex() { return kGpt2; }

}  // namespace quantlab::text_detail
