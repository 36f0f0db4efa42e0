// Vocabulary from a Hugging Face tokenizer.json (+ tokenizer_config.json). Supports what the
// Llama/Qwen/GPT-2/BERT families use: BPE (byte-level, or SentencePiece-style with byte fallback)
// and WordPiece models; NFC, BERT and SentencePiece-style normalizers; ByteLevel, Split, Digits,
// Metaspace and BERT pre-tokenizers; template/BERT/RoBERTa post-processors. Anything else is
// refused with an error naming the JSON field, rather than tokenized differently.
#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/core/utf8.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "src/text/pretokenizer_patterns.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace quantlab {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 64;  // tokenizer files nest a few levels; deeper is hostile

json parse_json_file(const std::string& path) {
  MappedFile file(path);
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  bool too_deep = false;
  json::parser_callback_t limit = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  try {
    json j = json::parse(text.begin(), text.end(), limit);
    if (too_deep) throw Error(path, "json", "nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return j;
  } catch (const json::parse_error& e) {
    if (too_deep) throw Error(path, "json", "nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    throw Error(path, "json (byte " + std::to_string(e.byte) + ")", "malformed JSON");
  } catch (const json::exception&) {  // a number that overflows a double (out_of_range.406), ...
    rethrow_as_error(path, "json");
  }
}

// Typed access that names the JSON path on failure.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  const json& member(const json& obj, const std::string& key, const std::string& where) const {
    if (!obj.is_object()) fail(where, "is not an object");
    const auto it = obj.find(key);
    if (it == obj.end()) fail(where + "." + key, "is missing");
    return *it;
  }
  std::string string(const json& j, const std::string& where) const {
    if (!j.is_string()) fail(where, "is not a string");
    std::string s = j.get<std::string>();
    if (!is_valid_utf8(s)) fail(where, "is not valid UTF-8");
    return s;
  }
  int64_t integer(const json& j, const std::string& where) const {
    if (!j.is_number_integer()) fail(where, "is not an integer");
    return j.get<int64_t>();
  }
  bool boolean(const json& j, const std::string& where, bool fallback) const {
    if (j.is_null()) return fallback;
    if (!j.is_boolean()) fail(where, "is not a boolean");
    return j.get<bool>();
  }
  bool opt_bool(const json& obj, const std::string& key, const std::string& where, bool fallback) const {
    const auto it = obj.find(key);
    return it == obj.end() ? fallback : boolean(*it, where + "." + key, fallback);
  }
  std::string type_of(const json& obj, const std::string& where) const {
    return string(member(obj, "type", where), where + ".type");
  }
  [[noreturn]] void fail(const std::string& where, const std::string& what) const { throw Error(path_, where, what); }

 private:
  std::string path_;
};

struct PreTokenizerSetup {
  std::vector<std::string> regexes;
  bool byte_level = false;
  bool metaspace = false;
  bool metaspace_prefix = true;  // Metaspace prepends U+2581 (prepend_scheme first/always)
  bool bert = false;
};

void read_pre_tokenizer(const Reader& r, const json& p, const std::string& where, PreTokenizerSetup& out) {
  if (p.is_null()) return;
  const std::string type = r.type_of(p, where);
  if (type == "Sequence") {
    const json& list = r.member(p, "pretokenizers", where);
    if (!list.is_array()) r.fail(where + ".pretokenizers", "is not an array");
    for (size_t i = 0; i < list.size(); ++i)
      read_pre_tokenizer(r, list[i], where + ".pretokenizers[" + std::to_string(i) + "]", out);
  } else if (type == "ByteLevel") {
    out.byte_level = true;
    if (r.opt_bool(p, "add_prefix_space", where, false)) r.fail(where + ".add_prefix_space", "true is not supported");
    if (r.opt_bool(p, "use_regex", where, true))
      out.regexes.push_back(text_detail::gpt2_pretokenizer_regex() + "|\\s+");
  } else if (type == "Split") {
    const std::string behavior = r.string(r.member(p, "behavior", where), where + ".behavior");
    if (behavior != "Isolated") r.fail(where + ".behavior", "'" + behavior + "' is not supported (Isolated is)");
    if (r.opt_bool(p, "invert", where, false)) r.fail(where + ".invert", "true is not supported");
    const json& pat = r.member(p, "pattern", where);
    if (pat.contains("Regex")) {
      out.regexes.push_back(r.string(pat["Regex"], where + ".pattern.Regex"));
    } else if (pat.contains("String")) {
      std::string quoted;
      for (char c : r.string(pat["String"], where + ".pattern.String")) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) quoted += '\\';
        quoted += c;
      }
      out.regexes.push_back(quoted);
    } else {
      r.fail(where + ".pattern", "has neither Regex nor String");
    }
  } else if (type == "Digits") {
    out.regexes.push_back(r.opt_bool(p, "individual_digits", where, false) ? "\\p{N}" : "\\p{N}+");
  } else if (type == "Metaspace") {
    out.metaspace = true;
    if (p.contains("replacement") && r.string(p["replacement"], where + ".replacement") != "\xE2\x96\x81")
      r.fail(where + ".replacement", "only U+2581 is supported");
    if (p.contains("prepend_scheme")) out.metaspace_prefix = r.string(p["prepend_scheme"], where + ".prepend_scheme") != "never";
    else out.metaspace_prefix = r.opt_bool(p, "add_prefix_space", where, true);
  } else if (type == "BertPreTokenizer") {
    out.bert = true;
  } else {
    r.fail(where + ".type", "pre-tokenizer '" + type + "' is not supported");
  }
}

struct NormalizerSetup {
  bool nfc = false;
  bool bert = false;
  bool lowercase = false;
  bool strip_accents = false;
  bool prepend_space_marker = false;
  bool spaces_to_marker = false;
};

void read_normalizer(const Reader& r, const json& n, const std::string& where, NormalizerSetup& out) {
  if (n.is_null()) return;
  const std::string type = r.type_of(n, where);
  if (type == "Sequence") {
    const json& list = r.member(n, "normalizers", where);
    if (!list.is_array()) r.fail(where + ".normalizers", "is not an array");
    for (size_t i = 0; i < list.size(); ++i)
      read_normalizer(r, list[i], where + ".normalizers[" + std::to_string(i) + "]", out);
  } else if (type == "NFC") {
    out.nfc = true;
  } else if (type == "BertNormalizer") {
    out.bert = true;
    out.lowercase = r.opt_bool(n, "lowercase", where, true);
    // strip_accents null (the usual) follows lowercase, as in the tokenizers library.
    const bool explicit_strip = n.contains("strip_accents") && !n["strip_accents"].is_null();
    out.strip_accents = explicit_strip ? r.opt_bool(n, "strip_accents", where, true) : out.lowercase;
  } else if (type == "Prepend") {
    if (r.string(r.member(n, "prepend", where), where + ".prepend") != "\xE2\x96\x81")
      r.fail(where + ".prepend", "only U+2581 is supported");
    out.prepend_space_marker = true;
  } else if (type == "Replace") {
    const json& pat = r.member(n, "pattern", where);
    const std::string content = r.string(r.member(n, "content", where), where + ".content");
    if (!pat.contains("String") || pat["String"] != " " || content != "\xE2\x96\x81")
      r.fail(where, "only Replace(' ' -> U+2581) is supported");
    out.spaces_to_marker = true;
  } else {
    r.fail(where + ".type", "normalizer '" + type + "' is not supported");
  }
}

// Token content of a tokenizer_config.json entry: a string or {"content": ...}.
std::string config_token(const Reader& r, const json& j, const std::string& where) {
  if (j.is_null()) return "";
  if (j.is_string()) return r.string(j, where);
  if (j.is_object() && j.contains("content")) return r.string(j["content"], where + ".content");
  r.fail(where, "is neither a string nor an object with content");
}

}  // namespace

// Foreign exceptions (nlohmann's, allocation of absurd sizes) leave as quantlab::Error naming the file.
Vocab vocab_from_hf_tokenizer_json(const std::string& path, const std::string& config_path) try {
  const Reader r(path);
  const json root = parse_json_file(path);
  if (!root.is_object()) r.fail("(root)", "is not an object");
  const json& model = r.member(root, "model", "(root)");
  const std::string model_type = model.contains("type") ? r.type_of(model, "model")
                                 : model.contains("merges") ? "BPE" : "WordPiece";

  Vocab v;
  v.source = path;
  // Tokens by id: the model vocabulary, then added tokens (which may extend it). Ids must be
  // contiguous, so none can exceed the number of entries (which also bounds memory).
  const json& vocab = r.member(model, "vocab", "model");
  if (!vocab.is_object()) r.fail("model.vocab", "is not an object of token -> id");
  const json* added_list = nullptr;
  if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
    added_list = &root["added_tokens"];
    if (!added_list->is_array()) r.fail("added_tokens", "is not an array");
  }
  const size_t capacity = vocab.size() + (added_list ? added_list->size() : 0);
  std::vector<std::string> by_id(capacity);
  std::vector<uint8_t> have(capacity, 0);
  const auto hole = [&](int64_t id) {
    r.fail("model.vocab", "token ids are not contiguous: id " + std::to_string(id) + " with " +
                              std::to_string(capacity) + " tokens in all");
  };
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const auto where = [&] { return "model.vocab[\"" + it.key() + "\"]"; };  // built only for errors
    if (!is_valid_utf8(it.key())) r.fail("model.vocab", "a token is not valid UTF-8");
    if (!it.value().is_number_integer()) r.fail(where(), "is not an integer");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0) r.fail(where(), "id " + std::to_string(id) + " is negative");
    if (id >= static_cast<int64_t>(capacity)) hole(id);
    std::string t = it.key();
    if (model_type == "WordPiece") {
      // llama.cpp's representation: "##x" continues a word, other pieces start one (U+2581);
      // bracketed specials stay as they are.
      if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {}
      else if (t.rfind("##", 0) == 0) t = t.substr(2);
      else t = "\xE2\x96\x81" + t;
    }
    if (have[id]) r.fail(where(), "id " + std::to_string(id) + " used twice");
    have[id] = 1;
    by_id[id] = std::move(t);
  }
  std::map<int64_t, std::pair<TokenKind, std::pair<bool, bool>>> added;  // id -> kind, (lstrip, rstrip)
  if (added_list) {
    const json& list = *added_list;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      const json& a = list[i];
      const int64_t id = r.integer(r.member(a, "id", where), where + ".id");
      if (id < 0) r.fail(where + ".id", "id " + std::to_string(id) + " is negative");
      if (id >= static_cast<int64_t>(capacity)) hole(id);
      const std::string content = r.string(r.member(a, "content", where), where + ".content");
      if (content.empty()) r.fail(where + ".content", "is empty");
      const bool special = r.opt_bool(a, "special", where, false);
      by_id[id] = content;
      have[id] = 1;
      added[id] = {special ? TokenKind::Control : TokenKind::UserDefined,
                   {r.opt_bool(a, "lstrip", where, false), r.opt_bool(a, "rstrip", where, false)}};
    }
  }
  size_t n = capacity;
  while (n > 0 && !have[n - 1]) --n;
  if (n == 0) r.fail("model.vocab", "is empty");
  for (size_t id = 0; id < n; ++id)
    if (!have[id]) r.fail("model.vocab", "token ids are not contiguous: no token has id " + std::to_string(id));
  by_id.resize(n);
  v.tokens = std::move(by_id);
  v.kinds.assign(n, TokenKind::Normal);
  v.lstrip.assign(n, 0);
  v.rstrip.assign(n, 0);
  for (const auto& [id, a] : added) {
    v.kinds[id] = a.first;
    v.lstrip[id] = a.second.first;
    v.rstrip[id] = a.second.second;
  }

  NormalizerSetup norm;
  if (root.contains("normalizer")) read_normalizer(r, root["normalizer"], "normalizer", norm);
  PreTokenizerSetup pre;
  if (root.contains("pre_tokenizer")) read_pre_tokenizer(r, root["pre_tokenizer"], "pre_tokenizer", pre);

  const auto token_id_of = [&](const std::string& content) -> int32_t {
    for (size_t i = 0; i < v.tokens.size(); ++i)
      if (v.tokens[i] == content) return static_cast<int32_t>(i);
    return -1;
  };

  if (model_type == "BPE") {
    v.algorithm = TokenizerAlgorithm::ByteLevelBpe;
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(key) && !model[key].is_null() && model[key] != "")
        r.fail(std::string("model.") + key, "is not supported");
    v.ignore_merges = r.opt_bool(model, "ignore_merges", "model", false);
    const bool byte_fallback = r.opt_bool(model, "byte_fallback", "model", false);
    const json& merges = r.member(model, "merges", "model");
    if (!merges.is_array()) r.fail("model.merges", "is not an array");
    v.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string where = "model.merges[" + std::to_string(i) + "]";
      const json& m = merges[i];
      if (m.is_string()) {
        const std::string s = r.string(m, where);
        const size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) r.fail(where, "'" + s + "' is not two space-separated parts");
        v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2) {
        v.merges.emplace_back(r.string(m[0], where + "[0]"), r.string(m[1], where + "[1]"));
      } else {
        r.fail(where, "is neither \"a b\" nor [a, b]");
      }
    }
    if (pre.byte_level) {
      v.byte_encode = true;
      v.split_regexes = pre.regexes;
      v.pre = "";
      v.normalize_nfc = norm.nfc;
      if (norm.bert || norm.prepend_space_marker || norm.spaces_to_marker)
        r.fail("normalizer", "is not supported together with a ByteLevel pre-tokenizer");
    } else if (byte_fallback && ((norm.prepend_space_marker && norm.spaces_to_marker) || pre.metaspace)) {
      // SentencePiece converted to BPE (Llama 2, Mistral, TinyLlama in tokenizer.json form).
      v.byte_encode = false;
      v.pre = "";
      v.add_space_prefix = pre.metaspace ? pre.metaspace_prefix : norm.prepend_space_marker;
      if (!pre.regexes.empty()) r.fail("pre_tokenizer", "regex splitting with a SentencePiece-style BPE is not supported");
      for (size_t i = 0; i < v.tokens.size(); ++i)
        if (v.tokens[i].size() == 6 && v.tokens[i].rfind("<0x", 0) == 0 && v.tokens[i][5] == '>' && v.kinds[i] == TokenKind::Normal)
          v.kinds[i] = TokenKind::Byte;
    } else {
      r.fail("pre_tokenizer", "a BPE model needs a ByteLevel pre-tokenizer or SentencePiece-style byte fallback");
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) v.unk_id = token_id_of(model["unk_token"]);
  } else if (model_type == "WordPiece") {
    v.algorithm = TokenizerAlgorithm::WordPiece;
    v.pre = "";
    v.lowercase = norm.bert ? norm.lowercase : false;
    if (norm.bert && norm.strip_accents != norm.lowercase)
      r.fail("normalizer.strip_accents", "stripping accents without lower-casing (or the reverse) is not supported");
    v.full_decomposition = true;
    v.max_word_chars = 100;  // the tokenizers library's default
    if (model.contains("max_input_chars_per_word")) {
      const json& m = model["max_input_chars_per_word"];
      if (!m.is_number_integer() || m.get<int64_t>() < 1) r.fail("model.max_input_chars_per_word", "is not a positive integer");
      v.max_word_chars = m.get<int64_t>();
    }
    if (model.contains("continuing_subword_prefix") && model["continuing_subword_prefix"] != "##")
      r.fail("model.continuing_subword_prefix", "only \"##\" is supported");
    if (model.contains("unk_token")) v.unk_id = token_id_of(r.string(model["unk_token"], "model.unk_token"));
  } else {
    r.fail("model.type", "model '" + model_type + "' is not supported (BPE and WordPiece are)");
  }

  // Post-processor: which specials surround a single sequence.
  const std::function<void(const json&, const std::string&)> read_post = [&](const json& p, const std::string& where) {
    if (p.is_null()) return;
    const std::string type = r.type_of(p, where);
    if (type == "Sequence") {
      const json& list = r.member(p, "processors", where);
      for (size_t i = 0; i < list.size(); ++i) read_post(list[i], where + ".processors[" + std::to_string(i) + "]");
    } else if (type == "TemplateProcessing") {
      const json& single = r.member(p, "single", where);
      if (!single.is_array()) r.fail(where + ".single", "is not an array");
      bool seen_sequence = false;
      for (size_t i = 0; i < single.size(); ++i) {
        const json& piece = single[i];
        if (piece.contains("Sequence")) {
          seen_sequence = true;
        } else if (piece.contains("SpecialToken")) {
          const std::string name = r.string(r.member(piece["SpecialToken"], "id", where), where + ".single[" + std::to_string(i) + "]");
          const int32_t id = token_id_of(name);
          if (id < 0) r.fail(where + ".single[" + std::to_string(i) + "]", "special token '" + name + "' is not in the vocabulary");
          if (!seen_sequence) v.bos_id = id, v.add_bos = true;
          else v.eos_id = id, v.add_eos = true;
        }
      }
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
      const json& cls = r.member(p, "cls", where);
      const json& sep = r.member(p, "sep", where);
      if (!cls.is_array() || cls.size() != 2) r.fail(where + ".cls", "is not a [token, id] pair");
      if (!sep.is_array() || sep.size() != 2) r.fail(where + ".sep", "is not a [token, id] pair");
      v.bos_id = static_cast<int32_t>(r.integer(cls[1], where + ".cls[1]"));
      v.sep_id = static_cast<int32_t>(r.integer(sep[1], where + ".sep[1]"));
      v.add_bos = v.add_sep = true;
    } else if (type != "ByteLevel") {
      r.fail(where + ".type", "post-processor '" + type + "' is not supported");
    }
  };
  if (root.contains("post_processor")) read_post(root["post_processor"], "post_processor");

  if (!config_path.empty()) {
    const Reader c(config_path);
    const json cfg = parse_json_file(config_path);
    if (!cfg.is_object()) c.fail("(root)", "is not an object");
    const auto special = [&](const char* key, int32_t& id) {
      if (!cfg.contains(key)) return;
      const std::string content = config_token(c, cfg[key], key);
      if (content.empty()) return;
      const int32_t found = token_id_of(content);
      if (found < 0) c.fail(key, "token '" + content + "' is not in " + path);
      id = found;
    };
    special("bos_token", v.bos_id);
    special("eos_token", v.eos_id);
    special("unk_token", v.unk_id);
    special("pad_token", v.pad_id);
    v.add_bos = c.opt_bool(cfg, "add_bos_token", "(root)", v.add_bos);
    v.add_eos = c.opt_bool(cfg, "add_eos_token", "(root)", v.add_eos);
    if (cfg.contains("chat_template")) {
      const json& t = cfg["chat_template"];
      if (t.is_string()) {
        v.chat_template = c.string(t, "chat_template");
      } else if (t.is_array()) {
        for (size_t i = 0; i < t.size(); ++i)
          if (i == 0 || (t[i].contains("name") && t[i]["name"] == "default"))
            v.chat_template = c.string(c.member(t[i], "template", "chat_template[" + std::to_string(i) + "]"),
                                       "chat_template[" + std::to_string(i) + "].template");
      }
    }
  }
  return v;
} catch (...) {
  rethrow_as_error(path, "(root)");
}

}  // namespace quantlab
