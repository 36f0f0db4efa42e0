#include "quantlab/text/hf_tokenizer_writer.hpp"

#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/error.hpp"

#include <filesystem>

namespace quantlab {
namespace {

using ojson = nlohmann::ordered_json;

bool is_added(TokenKind k) { return k == TokenKind::Control || k == TokenKind::UserDefined; }

const std::string& token_or_throw(const Vocab& v, int32_t id, const char* field) {
  if (id < 0 || size_t(id) >= v.tokens.size()) throw Error(v.source, field, "no such token id " + std::to_string(id));
  return v.tokens[size_t(id)];
}

ojson special_piece(const Vocab& v, int32_t id) {
  return {{"SpecialToken", {{"id", token_or_throw(v, id, "special token")}, {"type_id", 0}}}};
}

ojson post_processor(const Vocab& v) {
  if (!v.add_bos && !v.add_eos) return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                                        {"use_regex", false}};
  ojson single = ojson::array(), pair = ojson::array(), specials = ojson::object();
  auto add_special = [&](int32_t id) {
    const std::string& t = token_or_throw(v, id, "special token");
    specials[t] = {{"id", t}, {"ids", {id}}, {"tokens", {t}}};
  };
  if (v.add_bos) {
    single.push_back(special_piece(v, v.bos_id));
    pair.push_back(special_piece(v, v.bos_id));
    add_special(v.bos_id);
  }
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  pair.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (v.add_eos) {
    single.push_back(special_piece(v, v.eos_id));
    pair.push_back(special_piece(v, v.eos_id));
    add_special(v.eos_id);
  }
  if (v.add_bos) pair.push_back(special_piece(v, v.bos_id));
  pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  if (v.add_eos) pair.push_back(special_piece(v, v.eos_id));
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

}  // namespace

ojson hf_tokenizer_json(const Vocab& v) {
  if (v.algorithm != TokenizerAlgorithm::ByteLevelBpe)
    throw Error(v.source, "tokenizer.ggml.model",
                std::string("writing a tokenizer.json is supported for byte-level BPE only, not ") +
                    tokenizer_algorithm_name(v.algorithm));
  if (!v.byte_encode) throw Error(v.source, "tokenizer", "byte-level BPE without the byte map cannot be written");
  if (v.split_regexes.empty()) throw Error(v.source, "tokenizer.ggml.pre", "no pre-tokenizer regexes");
  const size_t n = v.tokens.size();
  if (v.kinds.size() != n) throw Error(v.source, "token_type", "not one entry per token");

  ojson added = ojson::array();
  for (size_t i = 0; i < n; ++i) {
    if (!is_added(v.kinds[i])) continue;
    added.push_back({{"id", i},
                     {"content", v.tokens[i]},
                     {"single_word", false},
                     {"lstrip", i < v.lstrip.size() && v.lstrip[i] != 0},
                     {"rstrip", i < v.rstrip.size() && v.rstrip[i] != 0},
                     {"normalized", false},
                     {"special", v.kinds[i] == TokenKind::Control}});
  }
  ojson splits = ojson::array();
  for (const std::string& r : v.split_regexes)
    splits.push_back({{"type", "Split"}, {"pattern", {{"Regex", r}}}, {"behavior", "Isolated"}, {"invert", false}});
  splits.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}});

  ojson vocab = ojson::object();
  for (size_t i = 0; i < n; ++i) {
    if (vocab.contains(v.tokens[i])) throw Error(v.source, "tokens[" + std::to_string(i) + "]", "duplicate token text");
    vocab[v.tokens[i]] = i;
  }
  ojson merges = ojson::array();
  for (const auto& [a, b] : v.merges) merges.push_back({a, b});

  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = v.normalize_nfc ? ojson{{"type", "NFC"}} : ojson(nullptr);
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", splits}};
  j["post_processor"] = post_processor(v);
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", v.unk_id >= 0 ? ojson(v.tokens[size_t(v.unk_id)]) : ojson(nullptr)},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", v.ignore_merges},
                {"vocab", vocab},
                {"merges", merges}};
  return j;
}

ojson hf_tokenizer_config_json(const Vocab& v, int64_t model_max_length) {
  ojson decoder = ojson::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (!is_added(v.kinds[i])) continue;
    decoder[std::to_string(i)] = {{"content", v.tokens[i]},
                                  {"lstrip", i < v.lstrip.size() && v.lstrip[i] != 0},
                                  {"normalized", false},
                                  {"rstrip", i < v.rstrip.size() && v.rstrip[i] != 0},
                                  {"single_word", false},
                                  {"special", v.kinds[i] == TokenKind::Control}};
  }
  auto tok = [&](int32_t id) { return id >= 0 ? ojson(token_or_throw(v, id, "special token")) : ojson(nullptr); };
  ojson j;
  j["add_bos_token"] = v.add_bos;
  j["add_eos_token"] = v.add_eos;
  j["added_tokens_decoder"] = decoder;
  j["bos_token"] = tok(v.bos_id);
  j["eos_token"] = tok(v.eos_id);
  j["unk_token"] = tok(v.unk_id);
  j["pad_token"] = tok(v.pad_id);
  if (!v.chat_template.empty()) j["chat_template"] = v.chat_template;
  j["clean_up_tokenization_spaces"] = false;
  j["model_max_length"] = model_max_length;
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  return j;
}

void write_hf_tokenizer_files(const Vocab& v, int64_t model_max_length, const std::string& dir) {
  const std::filesystem::path d(dir);
  const std::string tokenizer = hf_tokenizer_json(v).dump(2, ' ', false) + "\n";
  const std::string config = hf_tokenizer_config_json(v, model_max_length).dump(2, ' ', false) + "\n";
  for (const auto& [name, text] : {std::pair{"tokenizer.json", &tokenizer}, std::pair{"tokenizer_config.json", &config}}) {
    AtomicFile f((d / name).string());
    f.write(text->data(), text->size());
    f.commit();
  }
}

}  // namespace quantlab
