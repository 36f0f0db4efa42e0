// Bad vocabularies: every one gives a quantlab::Error naming the file and the field, never a
// crash or a silently different tokenizer.
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "quantlab/text/vocab_loaders.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <iterator>
#include <tuple>
#include <fstream>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

fs::path write_file(const std::string& name, const std::string& bytes) {
  const fs::path p = test::temp_dir("text-bad-input") / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

// Expects load() to throw an Error whose field contains `field` and whose source is the file.
void expect_error(const fs::path& p, const std::string& field) {
  try {
    Tokenizer::load(p.string());
    ADD_FAILURE() << p << ": accepted, expected an error naming " << field;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p.filename().string()), std::string::npos) << e.what();
    EXPECT_NE(e.field().find(field), std::string::npos) << "field '" << e.field() << "' in: " << e.what();
  }
}

// --- a minimal byte-level BPE tokenizer.json -------------------------------------------------

std::string bpe_json(const std::string& vocab = R"({"a":0,"b":1,"ab":2,"Ġ":3})",
                     const std::string& merges = R"(["a b"])",
                     const std::string& added = R"([{"id":4,"content":"<|end|>","special":true}])",
                     const std::string& model_type = "BPE") {
  return R"({"version":"1.0","added_tokens":)" + added +
         R"(,"normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},)"
         R"("post_processor":null,"decoder":null,"model":{"type":")" + model_type + R"(","vocab":)" + vocab +
         R"(,"merges":)" + merges + "}}";
}

TEST(BadInput, GoodMiniatureJsonLoads) {
  const auto p = write_file("good.json", bpe_json());
  const Tokenizer tok = Tokenizer::load(p.string());
  EXPECT_EQ(tok.encode("ab", false, false), std::vector<int32_t>{2});
  EXPECT_EQ(tok.eot_id(), 4);
}

TEST(BadInput, TokenizerJsonCases) {
  expect_error(write_file("trunc.json", bpe_json().substr(0, 60)), "json");
  expect_error(write_file("nomodel.json", R"({"added_tokens":[]})"), "model");
  expect_error(write_file("vocabarray.json", bpe_json("[1,2]")), "model.vocab");
  expect_error(write_file("vocabid.json", bpe_json(R"({"a":"zero","b":1})")), "model.vocab");
  expect_error(write_file("hole.json", bpe_json(R"({"a":0,"b":1,"ab":7})", R"(["a b"])", "[]")), "model.vocab");
  expect_error(write_file("dupid.json", bpe_json(R"({"a":0,"b":0})", "[]", "[]")), "model.vocab");
  expect_error(write_file("merge.json", bpe_json(R"({"a":0,"b":1})", R"(["ab"])", "[]")), "model.merges[0]");
  expect_error(write_file("mergetype.json", bpe_json(R"({"a":0,"b":1})", R"([42])", "[]")), "model.merges[0]");
  expect_error(write_file("added.json", bpe_json(R"({"a":0})", "[]", R"([{"id":1}])")), "added_tokens[0]");
  expect_error(write_file("unigram.json", bpe_json(R"({"a":0})", "[]", "[]", "Unigram")), "model.type");
  std::string deep = R"({"model":)";
  for (int i = 0; i < 200; ++i) deep += "[";
  expect_error(write_file("deep.json", deep), "json");
  // Invalid UTF-8 inside a JSON string is malformed JSON.
  expect_error(write_file("utf8.json", bpe_json("{\"a\xff\":0}", "[]", "[]")), "json");
  const std::string bad_pre = R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Whatever"}})";
  expect_error(write_file("pre.json", bad_pre), "pre_tokenizer.type");
  const std::string bad_regex = R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated"},{"type":"ByteLevel","use_regex":false}]}})";
  expect_error(write_file("regex.json", bad_regex), "pre-tokenizer regex");
}

TEST(BadInput, TokenizerConfigNamingAnAbsentToken) {
  const fs::path dir = test::temp_dir("text-bad-config");
  std::ofstream(dir / "tokenizer.json") << bpe_json();
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token":"<s>"})";
  try {
    Tokenizer::load(dir.string());
    ADD_FAILURE() << "accepted a bos_token that is not in the vocabulary";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "bos_token") << e.what();
    EXPECT_NE(e.source().find("tokenizer_config.json"), std::string::npos);
  }
}

TEST(TokenizerJson, ConfigGivesBosEosAndChatTemplate) {
  const fs::path dir = test::temp_dir("text-good-config");
  std::ofstream(dir / "tokenizer.json") << bpe_json();
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"bos_token":{"content":"<|end|>"},"eos_token":"<|end|>","add_bos_token":true,)"
         R"("chat_template":"{% for m in messages %}{{ m.content }}{% endfor %}"})";
  const Tokenizer tok = Tokenizer::load(dir.string());
  EXPECT_EQ(tok.bos_id(), 4);
  EXPECT_EQ(tok.eos_id(), 4);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_FALSE(tok.add_eos());
  EXPECT_EQ(tok.vocab().chat_template, "{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_EQ(tok.encode("ab", true, false), (std::vector<int32_t>{4, 2}));
}

// --- llama2.c tokenizer.bin ---------------------------------------------------------------------

std::string llama2c_bin(int n_tokens, const std::string& replace_token_300 = "") {
  std::string out;
  const auto put_i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  const auto put_f32 = [&](float v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put_i32(16);
  for (int i = 0; i < n_tokens; ++i) {
    std::string t;
    if (i == 0) t = "<unk>";
    else if (i == 1) t = "\n<s>\n";
    else if (i == 2) t = "\n</s>\n";
    else if (i < 259) {
      char b[8];
      std::snprintf(b, sizeof b, "<0x%02X>", i - 3);
      t = b;
    } else {
      t = "t";
      t += std::to_string(i);
    }
    if (i == 300 && !replace_token_300.empty()) t = replace_token_300;
    put_f32(-static_cast<float>(i));
    put_i32(static_cast<int32_t>(t.size()));
    out += t;
  }
  return out;
}

TEST(BadInput, Llama2cTokenizerBinCases) {
  const auto good = write_file("good.bin", llama2c_bin(400));
  EXPECT_EQ(Tokenizer::load(good.string()).vocab_size(), 400u);
  const std::string full = llama2c_bin(400);
  expect_error(write_file("trunc.bin", full.substr(0, full.size() - 3)), "token 399");
  expect_error(write_file("short.bin", llama2c_bin(100)), "tokens");
  expect_error(write_file("utf8.bin", llama2c_bin(400, "x\xC3(")), "tokens[300]");
  expect_error(write_file("dup.bin", llama2c_bin(400, "t301")), "tokens[301]");
  std::string bad_len = full;
  const int32_t huge = 1 << 30;
  std::memcpy(&bad_len[4 + 4], &huge, 4);  // the first token's length
  expect_error(write_file("len.bin", bad_len), "token 0");
  std::string no_bytes = llama2c_bin(400);
  no_bytes.replace(no_bytes.find("<0x41>"), 6, "<0x4G>");
  expect_error(write_file("bytes.bin", no_bytes), "token 68");
}

// --- SentencePiece tokenizer.model --------------------------------------------------------------

std::string pb_varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  s += static_cast<char>(v);
  return s;
}
std::string pb_bytes(uint32_t field, const std::string& payload) {
  return pb_varint((field << 3) | 2) + pb_varint(payload.size()) + payload;
}
std::string pb_int(uint32_t field, uint64_t v) { return pb_varint(field << 3) + pb_varint(v); }

// A model with pieces <unk>, <s>, </s>, ▁a; trainer and normalizer as given.
std::string spm_model(int model_type, const std::string& normalizer) {
  std::string m;
  for (const char* piece : {"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a"}) m += pb_bytes(1, pb_bytes(1, piece));
  m += pb_bytes(2, pb_int(3, model_type));
  m += pb_bytes(3, pb_bytes(1, normalizer) + pb_int(4, 0));
  return m;
}

TEST(BadInput, SentencePieceModelCases) {
  const auto real = test::shared_dir() / "data/tokenizers/llama2/tokenizer.model";
  QUANTLAB_REQUIRE_FILE(real);
  const auto good = write_file("good.model", spm_model(2, "identity"));
  EXPECT_EQ(Tokenizer::load(good.string()).encode("a", false, false), std::vector<int32_t>{3});
  expect_error(write_file("unigram.model", spm_model(1, "identity")), "trainer_spec.model_type");
  expect_error(write_file("nfkc.model", spm_model(2, "nmt_nfkc")), "normalizer_spec.name");
  const std::string full = spm_model(2, "identity");
  expect_error(write_file("trunc.model", full.substr(0, 20)), "pieces[2]");  // inside "</s>"
  std::string bad_wire = full;
  bad_wire += pb_varint((9 << 3) | 7);  // wire type 7 does not exist
  expect_error(write_file("wire.model", bad_wire), "ModelProto");
  std::ifstream in(real, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  expect_error(write_file("cut.model", bytes.substr(0, bytes.size() / 2)), "pieces[");
}

// --- GGUF metadata --------------------------------------------------------------------------------

struct Kv {
  std::string key;
  uint32_t type;
  std::string payload;
};
void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& s, const std::string& v) {
  put_u64(s, v.size());
  s += v;
}
Kv str_kv(const std::string& k, const std::string& v) {
  Kv kv{k, 8, ""};
  put_str(kv.payload, v);
  return kv;
}
Kv u32_kv(const std::string& k, uint32_t v) {
  Kv kv{k, 4, ""};
  put_u32(kv.payload, v);
  return kv;
}
Kv str_array_kv(const std::string& k, const std::vector<std::string>& v) {
  Kv kv{k, 9, ""};
  put_u32(kv.payload, 8);
  put_u64(kv.payload, v.size());
  for (const auto& s : v) put_str(kv.payload, s);
  return kv;
}
Kv i32_array_kv(const std::string& k, const std::vector<int32_t>& v) {
  Kv kv{k, 9, ""};
  put_u32(kv.payload, 5);
  put_u64(kv.payload, v.size());
  for (int32_t x : v) put_u32(kv.payload, static_cast<uint32_t>(x));
  return kv;
}
std::string gguf(const std::vector<Kv>& kvs) {
  std::string s = "GGUF";
  put_u32(s, 3);
  put_u64(s, 0);
  put_u64(s, kvs.size());
  for (const auto& kv : kvs) {
    put_str(s, kv.key);
    put_u32(s, kv.type);
    s += kv.payload;
  }
  return s;
}

std::vector<Kv> gpt2_vocab(const std::string& pre = "gpt-2") {
  return {str_kv("tokenizer.ggml.model", "gpt2"), str_kv("tokenizer.ggml.pre", pre),
          str_array_kv("tokenizer.ggml.tokens", {"a", "b", "ab", "<|endoftext|>"}),
          i32_array_kv("tokenizer.ggml.token_type", {1, 1, 1, 3}), str_array_kv("tokenizer.ggml.merges", {"a b"}),
          u32_kv("tokenizer.ggml.eos_token_id", 3)};
}

TEST(BadInput, GgufVocabularyCases) {
  const auto good = write_file("good.gguf", gguf(gpt2_vocab()));
  EXPECT_EQ(Tokenizer::load(good.string()).encode("ab", false, false), std::vector<int32_t>{2});

  expect_error(write_file("pre.gguf", gguf(gpt2_vocab("no-such-pre"))), "tokenizer.ggml.pre");
  auto kv = gpt2_vocab();
  kv[0] = str_kv("tokenizer.ggml.model", "t5");
  expect_error(write_file("model.gguf", gguf(kv)), "tokenizer.ggml.model");
  kv = gpt2_vocab();
  kv.erase(kv.begin() + 2);
  expect_error(write_file("notokens.gguf", gguf(kv)), "tokenizer.ggml.tokens");
  kv = gpt2_vocab();
  kv[3] = i32_array_kv("tokenizer.ggml.token_type", {1});
  expect_error(write_file("types.gguf", gguf(kv)), "tokenizer.ggml.token_type");
  kv = gpt2_vocab();
  kv[5] = u32_kv("tokenizer.ggml.eos_token_id", 99);
  expect_error(write_file("eos.gguf", gguf(kv)), "tokenizer.ggml.eos_token_id");
  kv = gpt2_vocab();
  kv[4] = str_array_kv("tokenizer.ggml.merges", {"ab"});
  expect_error(write_file("merges.gguf", gguf(kv)), "tokenizer.ggml.merges[0]");
  kv = gpt2_vocab();
  kv.erase(kv.begin() + 4);
  expect_error(write_file("nomerges.gguf", gguf(kv)), "tokenizer.ggml.merges");
  kv = gpt2_vocab();
  kv[2] = str_array_kv("tokenizer.ggml.tokens", {"a", "b", "a", "<|endoftext|>"});
  expect_error(write_file("dup.gguf", gguf(kv)), "tokens[2]");
  kv = gpt2_vocab();
  kv[2] = str_array_kv("tokenizer.ggml.tokens", {"a", "b", "\xC3", "<|endoftext|>"});
  expect_error(write_file("utf8.gguf", gguf(kv)), "tokens[2]");
  kv = gpt2_vocab();
  kv[2] = i32_array_kv("tokenizer.ggml.tokens", {1, 2, 3, 4});
  expect_error(write_file("tokentype.gguf", gguf(kv)), "tokenizer.ggml.tokens");
}

TEST(BadInput, CliPrintsOneLineAndNothingOnStdout) {
  const auto cli = test::cli_path();
  QUANTLAB_REQUIRE_FILE(cli);
  const fs::path dir = test::temp_dir("text-cli");
  const auto model = write_file("cli.json", bpe_json());
  const auto run = [&](const std::string& args, const std::string& input) {
    std::ofstream(dir / "in.txt", std::ios::binary) << input;
    const std::string cmd = cli.string() + " tokenize --model " + model.string() + " " + args + " " +
                            (dir / "in.txt").string() + " > " + (dir / "out.txt").string() + " 2> " + (dir / "err.txt").string();
    const int rc = std::system(cmd.c_str());
    std::ifstream o(dir / "out.txt"), e(dir / "err.txt");
    std::string out((std::istreambuf_iterator<char>(o)), {}), err((std::istreambuf_iterator<char>(e)), {});
    return std::tuple{rc, out, err};
  };
  auto [rc, out, err] = run("--no-special", "abab<|end|>");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(out, "2 2\n");  // "<|end|>" stays text; its characters are not in this vocabulary
  std::tie(rc, out, err) = run("", "ab<|end|>");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(out, "2 4\n");
  std::tie(rc, out, err) = run("--json", "ab");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(nlohmann::json::parse(out)["ids"], nlohmann::json::array({2}));
  std::tie(rc, out, err) = run("--decode", "2 4 0");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(out, "ab<|end|>a");
  std::tie(rc, out, err) = run("--decode", "2 99");
  EXPECT_NE(rc, 0);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  std::tie(rc, out, err) = run("--decode", "2 x");
  EXPECT_NE(rc, 0);
  EXPECT_TRUE(out.empty());
  EXPECT_NE(err.find("'x' is not a token id"), std::string::npos) << err;
}

}  // namespace
