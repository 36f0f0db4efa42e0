#include "quantlab/io/hf_model.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/io/llama2c.hpp"
#include "hostile_support.hpp"

using namespace quantlab;
using test::Bytes;

namespace {

std::vector<uint8_t> text(const std::string& s) { return {s.begin(), s.end()}; }
void open_json(const std::string& p) { read_json_file(p); }

}  // namespace

TEST(HostileJson, DeepNestingIsRefusedBeforeParsing) {
  test::expect_rejected("deep-array.json", text(std::string(100000, '[') + std::string(100000, ']')), open_json, "JSON byte 64");
  test::expect_rejected("deep-object.json", text(std::string(30000, '{') + "}"), open_json, "JSON byte 64");
  // Brackets inside strings do not count, and 64 levels are fine.
  const auto dir = test::temp_dir("json-ok");
  test::write_text(dir / "ok.json", "{\"s\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\", \"a\": " +
                                          std::string(63, '[') + std::string(63, ']') + "}");
  EXPECT_NO_THROW(read_json_file((dir / "ok.json").string()));
}

TEST(HostileJson, InvalidUtf8DuplicatesAndSyntax) {
  test::expect_rejected("utf8.json", text("{\"a\": \"\xed\xa0\x80\"}"), open_json, "JSON byte 7");  // a surrogate
  test::expect_rejected("utf8-truncated.json", text("{\"a\": \"\xe2\x82\"}"), open_json, "JSON byte 7");
  test::expect_rejected("duplicate.json", text(R"({"a": {"b": 1, "b": 2}})"), open_json, "JSON key 'b'");
  test::expect_rejected("unterminated.json", text(R"({"a": "xyz)"), open_json, "JSON byte");
  test::expect_rejected("trailing.json", text(R"({"a": 1} x)"), open_json, "JSON byte");
  test::expect_rejected("empty.json", text(""), open_json, "JSON byte");
  test::expect_rejected("control.json", text("{\"a\": \"x\ny\"}"), open_json, "JSON byte");
}

TEST(HostileJson, NumberOverflowIsAQuantlabError) {
  // The fuzzer's first finding (a tokenizer.json holding 777e7777): nlohmann reports a number that
  // overflows a double as out_of_range, which must leave as quantlab::Error too.
  for (const char* t : {R"({"a": 777e7777})", R"([1, -1e999])", R"({"a": {"b": [0.5, 1E+400]}})"})
    test::expect_rejected("overflow.json", text(t), open_json, "JSON");
  // Large integers beyond 64 bits parse as floats and are then refused where an integer is needed.
  const auto dir = test::temp_dir("json-bigint");
  test::write_text(dir / "big.json", R"({"n": 123456789012345678901234567890, "u": 18446744073709551615})");
  const auto j = read_json_file((dir / "big.json").string());
  EXPECT_THROW(json_int(j, "n", "big.json"), Error);
  EXPECT_THROW(json_int(j, "u", "big.json"), Error);
  EXPECT_DOUBLE_EQ(json_number(j, "n", "big.json"), 1.2345678901234568e29);
}

TEST(HostileJson, HuggingFaceFolderOverflowNamesConfigJson) {
  const auto dir = test::temp_dir("hostile-hf-overflow");
  for (const char* name : {"config.json", "generation_config.json"}) {
    SCOPED_TRACE(name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    test::write_text(dir / "config.json", R"({"model_type": "llama"})");
    test::write_text(dir / name, R"({"model_type": "llama", "rope_theta": 777e7777})");
    try {
      read_hf_model_dir(dir.string());
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.source(), (dir / name).string()) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "foreign exception: " << e.what();
    }
  }
}

TEST(HostileJson, HuggingFaceFolderErrorsNameTheFileAndField) {
  const auto dir = test::temp_dir("hostile-hf");
  const auto config = (dir / "config.json").string();
  test::write_text(config, std::string(200, '['));
  try {
    read_hf_model_dir(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), config);
  }
  test::write_text(config, R"({"architectures": "LlamaForCausalLM", "hidden_size": "64"})");
  const auto hf = read_hf_model_dir(dir.string());
  try {
    hf.architecture();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), config);
    EXPECT_EQ(e.field(), "architectures");
  }
  try {
    json_int(hf.config.json, "hidden_size", hf.config.path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "hidden_size");
    EXPECT_NE(e.message().find("string"), std::string::npos);
  }
  test::write_text(dir / "generation_config.json", "[1]");
  EXPECT_THROW(read_hf_model_dir(dir.string()), Error);
}

TEST(HostileLlama2c, CheckpointHeaderCases) {
  auto open = [](const std::string& p) { Llama2cCheckpoint c(p); };
  auto header = [](std::vector<int32_t> v, size_t floats) {
    Bytes b;
    for (auto x : v) b.put<int32_t>(x);
    b.zeros(floats * 4);
    return b.b;
  };
  // dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 4, seq 2 -> 4*8 + 8 + 4*64 + 8 + 3*128 + 8 + 2*4 floats
  const size_t floats = 4 * 8 + 8 + 4 * 64 + 8 + 3 * 128 + 8 + 2 * 4;
  const auto ok = header({8, 16, 1, 2, 2, 4, 2}, floats);
  {
    const auto dir = test::temp_dir("l2c-ok");
    test::write_bytes(dir / "ok.bin", ok);
    Llama2cCheckpoint c((dir / "ok.bin").string());
    EXPECT_EQ(c.tensors().size(), 1u + 9u + 3u);
  }
  const char* names[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (size_t cut = 0; cut < 28; cut += 4)
    test::expect_rejected("cut.bin", std::vector<uint8_t>(ok.begin(), ok.begin() + long(cut)), open, names[cut / 4]);
  test::expect_rejected("neg-dim.bin", header({-8, 16, 1, 2, 2, 4, 2}, floats), open, "dim");
  test::expect_rejected("heads.bin", header({8, 16, 1, 3, 3, 4, 2}, floats), open, "n_heads");
  test::expect_rejected("kv-heads.bin", header({8, 16, 1, 2, 4, 4, 2}, floats), open, "n_kv_heads");
  test::expect_rejected("huge.bin", header({1 << 20, 1 << 20, 1 << 20, 2, 2, 4, 2}, 0), open, "header");
  test::expect_rejected("short.bin", std::vector<uint8_t>(ok.begin(), ok.end() - 4), open, "size");
  test::expect_rejected("unshared.bin", header({8, 16, 1, 2, 2, -4, 2}, floats), open, "size");  // wcls missing
  test::expect_rejected("int-min.bin", header({8, 16, 1, 2, 2, INT32_MIN, 2}, floats), open, "vocab_size");
}

TEST(HostileLlama2c, TokenizerCases) {
  auto open = [](const std::string& p) { read_llama2c_tokenizer(p); };
  auto tok = [](int32_t max_len, std::vector<std::pair<int32_t, std::string>> t) {
    Bytes b;
    b.put<int32_t>(max_len);
    for (auto& [len, s] : t) b.put<float>(0.0f).put<int32_t>(len).raw(s);
    return b.b;
  };
  test::expect_rejected("empty.bin", {}, open, "max_token_length");
  test::expect_rejected("max-len.bin", tok(-1, {}), open, "max_token_length");
  test::expect_rejected("no-tokens.bin", tok(4, {}), open, "tokens");
  test::expect_rejected("too-long.bin", tok(2, {{3, "abc"}}), open, "token 0 length");
  test::expect_rejected("negative.bin", tok(4, {{1, "a"}, {-1, ""}}), open, "token 1 length");
  test::expect_rejected("truncated-piece.bin", tok(8, {{1, "a"}, {5, "ab"}}), open, "token 1");
  auto b = tok(4, {{1, "a"}});
  b.push_back(0);
  test::expect_rejected("trailing.bin", b, open, "token 1");
}
