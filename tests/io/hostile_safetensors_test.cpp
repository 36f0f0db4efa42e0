#include "quantlab/io/safetensors.hpp"
#include "hostile_support.hpp"

using namespace quantlab;
using test::Bytes;

namespace {

void open_st(const std::string& p) { SafetensorsFile f(p); }

// A safetensors file with the given header text and `data_bytes` bytes of data.
std::vector<uint8_t> st(const std::string& header, size_t data_bytes) {
  Bytes b;
  b.put<uint64_t>(header.size()).raw(header).zeros(data_bytes);
  return b.b;
}

const std::string kValid =
    R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
    R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]}})";

}  // namespace

TEST(HostileSafetensors, BaseFileIsValid) {
  const auto dir = test::temp_dir("hostile-st");
  test::write_bytes(dir / "ok.safetensors", st(kValid, 24));
  SafetensorsFile f((dir / "ok.safetensors").string());
  EXPECT_EQ(f.tensors().size(), 2u);
}

TEST(HostileSafetensors, TruncatedAtEveryByte) {
  const auto b = st(kValid, 24);
  test::expect_every_truncation_rejected("trunc.safetensors", b, b.size(), open_st);
}

TEST(HostileSafetensors, BitFlipsAreRejectedOrHarmless) {
  const auto b = st(kValid, 24);
  test::expect_bit_flips_safe("flip.safetensors", b, 0, 8 + kValid.size(), open_st);
}

TEST(HostileSafetensors, HandCraftedCases) {
  auto one = [](const std::string& t) { return R"({"x":)" + t + "}"; };
  test::expect_rejected("short.safetensors", {1, 2, 3}, open_st, "header length");
  test::expect_rejected("header-past-eof.safetensors", Bytes().put<uint64_t>(1000).raw("{}").b, open_st, "header length");
  test::expect_rejected("header-huge.safetensors", Bytes().put<uint64_t>(uint64_t(1) << 62).raw("{}").b, open_st, "header length");
  test::expect_rejected("not-object.safetensors", st("[1,2]", 0), open_st, "header");
  // Numbers that overflow a double (nlohmann throws out_of_range, not parse_error) and relatives.
  test::expect_rejected("overflow.safetensors", st(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,777e7777]})"), 4), open_st,
                        "header");
  test::expect_rejected("overflow-meta.safetensors", st(R"({"__metadata__":{"n":-1e999}})", 0), open_st, "header");
  test::expect_rejected("float-shape.safetensors", st(one(R"({"dtype":"F32","shape":[1e300],"data_offsets":[0,4]})"), 4), open_st,
                        "tensor 'x' shape");
  test::expect_rejected("bad-json.safetensors", st(R"({"x":{"dtype":"F32",})", 0), open_st, "header byte");
  test::expect_rejected("deep.safetensors", st("{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}", 0), open_st,
                        "header byte");
  test::expect_rejected("utf8-key.safetensors", st("{\"\xff\xfe\":{}}", 0), open_st, "header byte 2");
  test::expect_rejected("overlong-utf8.safetensors", st("{\"\xc0\xaf\":{}}", 0), open_st, "header byte 2");
  test::expect_rejected("unknown-dtype.safetensors", st(one(R"({"dtype":"F17","shape":[1],"data_offsets":[0,4]})"), 4), open_st,
                        "tensor 'x' dtype");
  test::expect_rejected("wrong-size.safetensors", st(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,8]})"), 8), open_st,
                        "tensor 'x' data_offsets");
  test::expect_rejected("wrong-dtype-size.safetensors", st(one(R"({"dtype":"F16","shape":[4],"data_offsets":[0,16]})"), 16), open_st,
                        "tensor 'x' data_offsets");
  test::expect_rejected("past-eof.safetensors", st(one(R"({"dtype":"U8","shape":[8],"data_offsets":[4,12]})"), 8), open_st,
                        "tensor 'x' data_offsets");
  test::expect_rejected("end-before-begin.safetensors", st(one(R"({"dtype":"U8","shape":[0],"data_offsets":[8,4]})"), 8), open_st,
                        "tensor 'x' data_offsets");
  test::expect_rejected("negative-dim.safetensors", st(one(R"({"dtype":"U8","shape":[-1],"data_offsets":[0,0]})"), 0), open_st,
                        "tensor 'x' shape[0]");
  test::expect_rejected("float-offset.safetensors", st(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0.5,1]})"), 1), open_st,
                        "tensor 'x' data_offsets");
  test::expect_rejected("overflow-shape.safetensors",
                        st(one(R"({"dtype":"F64","shape":[1099511627776,1099511627776],"data_offsets":[0,8]})"), 8), open_st,
                        "tensor 'x' shape");
  test::expect_rejected("missing-offsets.safetensors", st(one(R"({"dtype":"U8","shape":[1]})"), 1), open_st,
                        "tensor 'x' data_offsets");
  test::expect_rejected("overlap.safetensors",
                        st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                        open_st, "data_offsets");
  test::expect_rejected("duplicate-name.safetensors",
                        st(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2),
                        open_st, "header key 'a'");
  test::expect_rejected("metadata-number.safetensors", st(R"({"__metadata__":{"k":1}})", 0), open_st, "__metadata__ 'k'");
  test::expect_rejected("tensor-not-object.safetensors", st(R"({"x":[1]})", 0), open_st, "tensor 'x'");
  test::expect_rejected("empty-name.safetensors", st(R"({"":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})", 0), open_st, "tensor ''");
}

TEST(HostileSafetensors, ShardIndexCannotEscapeItsFolder) {
  const auto dir = test::temp_dir("hostile-index");
  const auto index = (dir / "model.safetensors.index.json").string();
  test::write_text(index, R"({"weight_map": {"w": "../../etc/passwd"}})");
  try {
    SafetensorsCheckpoint c(index);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), index);
    EXPECT_EQ(e.field(), "weight_map 'w'");
  }
}
