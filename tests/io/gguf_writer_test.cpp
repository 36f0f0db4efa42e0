#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "io_test_util.hpp"
#include "pygguf_check.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A file exercising every value type, nested and empty arrays, and several tensor types.
GgufWriter every_type_writer() {
  GgufWriter w;
  w.set("general.architecture", GgufValue::str("llama"));
  w.set("general.name", GgufValue::str("quantlab round-trip fixture \xe2\x9c\x93"));
  w.set("t.u8", {GgufType::UINT8, uint64_t(250)});
  w.set("t.i8", {GgufType::INT8, int64_t(-7)});
  w.set("t.u16", {GgufType::UINT16, uint64_t(65000)});
  w.set("t.i16", {GgufType::INT16, int64_t(-30000)});
  w.set("t.u32", GgufValue::u32(4000000000u));
  w.set("t.i32", GgufValue::i32(-2000000000));
  w.set("t.f32", GgufValue::f32(0.1f));
  w.set("t.bool", GgufValue::boolean(true));
  w.set("t.u64", GgufValue::u64(18000000000000000000ull));
  w.set("t.i64", {GgufType::INT64, int64_t(-9000000000000000000ll)});
  w.set("t.f64", {GgufType::FLOAT64, 3.141592653589793});
  w.set("t.empty_string", GgufValue::str(""));
  w.set("t.strings", GgufValue::string_array({"a", "", "<0x0A>", "\xe2\x96\x81the"}));
  w.set("t.empty_array", GgufValue::array(GgufType::STRING, {}));
  w.set("t.f32s", GgufValue::array(GgufType::FLOAT32, {GgufValue::f32(-1.5f), GgufValue::f32(1e-30f)}));
  w.set("t.bools", GgufValue::array(GgufType::BOOL, {GgufValue::boolean(false), GgufValue::boolean(true)}));
  w.set("t.i16s", GgufValue::array(GgufType::INT16, {{GgufType::INT16, int64_t(-1)}, {GgufType::INT16, int64_t(2)}}));
  w.set("t.nested", GgufValue::array(GgufType::ARRAY, {GgufValue::array(GgufType::INT32, {GgufValue::i32(1), GgufValue::i32(2)}),
                                                         GgufValue::array(GgufType::INT32, {}),
                                                         GgufValue::array(GgufType::INT32, {GgufValue::i32(3)})}));
  std::vector<float> a(12), b(8);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.25f - 1.0f;
  std::vector<uint8_t> h(8 * 2);
  for (size_t i = 0; i < 8; ++i) {
    const uint16_t x = f32_to_fp16(float(i) - 3.5f);
    std::memcpy(h.data() + 2 * i, &x, 2);
  }
  std::vector<uint8_t> bf(8 * 2);
  for (size_t i = 0; i < 8; ++i) {
    const uint16_t x = f32_to_bf16(std::sin(float(i)));
    std::memcpy(bf.data() + 2 * i, &x, 2);
  }
  w.add_tensor("token_embd.weight", {4, 3}, FormatId::F32, f32_bytes(a));
  w.add_tensor("blk.0.attn_q.weight", {8}, FormatId::F16, h);
  w.add_tensor("blk.0.attn_k.weight", {2, 2, 2}, FormatId::BF16, bf);
  w.add_tensor("i8", {5}, FormatId::I8, std::vector<uint8_t>{1, 2, 3, 0xff, 0x80});
  w.add_tensor("i32", {3, 1}, FormatId::I32, std::vector<uint8_t>(12, 7));
  w.add_tensor("f64", {2}, FormatId::F64, std::vector<uint8_t>(16, 0x3f));
  return w;
}

}  // namespace

TEST(AtomicFile, CommitCreatesTheFileAndLeavesNoTemporary) {
  const auto dir = test::temp_dir("atomic");
  const auto path = dir / "out.bin";
  {
    AtomicFile f(path.string());
    f.write("abc", 3);
    f.write_zeros(2);
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(fs::exists(f.temp_path()));
    f.commit();
  }
  EXPECT_EQ(test::read_bytes(path), (std::vector<uint8_t>{'a', 'b', 'c', 0, 0}));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, AbandonedWriteLeavesNothingAndKeepsTheOldFile) {
  const auto dir = test::temp_dir("atomic-abandon");
  const auto path = dir / "out.bin";
  test::write_text(path, "old");
  try {
    AtomicFile f(path.string());
    f.write("new content", 11);
    throw std::runtime_error("bad input found half-way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(test::read_bytes(path), (std::vector<uint8_t>{'o', 'l', 'd'}));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, UnwritableDirectoryIsAnErrorNamingThePath) {
  try {
    AtomicFile f("/nonexistent-dir/x.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), "/nonexistent-dir/x.gguf");
  }
}

TEST(GgufWriter, RoundTripOfEveryTokenizerTestVocabIsByteIdentical) {
  const auto dir = test::shared_dir() / "data/tokenizer-tests";
  QUANTLAB_REQUIRE_FILE(dir);
  const auto out_dir = test::temp_dir("gguf-roundtrip");
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    GgufFile f(e.path().string());
    const auto out = out_dir / e.path().filename();
    gguf_writer_from(f).write(out.string());
    EXPECT_EQ(sha256_file(out.string()), sha256_file(e.path().string())) << e.path();
    ++n;
  }
  EXPECT_GE(n, 10);
  fs::remove_all(out_dir);
}

TEST(GgufWriter, EveryValueTypeAndTensorsReadBackAndRoundTrip) {
  const auto dir = test::temp_dir("gguf-types");
  const auto path = dir / "types.gguf";
  every_type_writer().write(path.string());
  GgufFile f(path.string());
  EXPECT_EQ(f.get_int("t.u8"), 250);
  EXPECT_EQ(f.get_int("t.i8"), -7);
  EXPECT_EQ(f.get_int("t.u16"), 65000);
  EXPECT_EQ(f.get_int("t.i16"), -30000);
  EXPECT_EQ(f.get_int("t.u32"), 4000000000ll);
  EXPECT_EQ(f.get_int("t.i32"), -2000000000);
  EXPECT_FLOAT_EQ(float(f.get_double("t.f32")), 0.1f);
  EXPECT_TRUE(f.get("t.bool").as_bool(f.path(), "t.bool"));
  EXPECT_EQ(std::get<uint64_t>(f.get("t.u64").v), 18000000000000000000ull);
  EXPECT_EQ(f.get_int("t.i64"), -9000000000000000000ll);
  EXPECT_EQ(f.get_double("t.f64"), 3.141592653589793);
  const auto& nested = f.get("t.nested").as_array(f.path(), "t.nested");
  ASSERT_EQ(nested.items.size(), 3u);
  EXPECT_EQ(nested.items[1].as_array(f.path(), "").items.size(), 0u);
  EXPECT_EQ(nested.items[2].as_array(f.path(), "").items[0].as_int(f.path(), ""), 3);
  ASSERT_EQ(f.tensors().size(), 6u);
  const auto* t = f.find_tensor("token_embd.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ne, (std::vector<int64_t>{4, 3}));
  float x;
  std::memcpy(&x, f.tensor_data(*t) + 4 * 5, 4);
  EXPECT_EQ(x, 0.25f);
  for (const auto& ti : f.tensors()) EXPECT_EQ((f.data_offset() + ti.offset) % 32, 0u);

  // Written again from what was read: the same bytes.
  const auto again = dir / "again.gguf";
  gguf_writer_from(f).write(again.string());
  EXPECT_EQ(test::read_bytes(again), test::read_bytes(path));
  fs::remove_all(dir);
}

TEST(GgufWriter, HonoursGeneralAlignmentAndExplicitOffsets) {
  auto w = every_type_writer();
  w.set("general.alignment", GgufValue::u32(64));
  w.add_tensor("placed", {4}, FormatId::F32, f32_bytes({1, 2, 3, 4}), 64 * 10);
  const auto dir = test::temp_dir("gguf-align");
  const auto path = dir / "aligned.gguf";
  w.write(path.string());
  GgufFile f(path.string());
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  for (const auto& t : f.tensors()) EXPECT_EQ(t.offset % 64, 0u);
  EXPECT_EQ(f.find_tensor("placed")->offset, 640u);
  EXPECT_EQ(f.file().size(), f.data_offset() + 640 + 64);
  const auto again = dir / "again.gguf";
  gguf_writer_from(f).write(again.string());
  EXPECT_EQ(test::read_bytes(again), test::read_bytes(path));
  fs::remove_all(dir);
}

TEST(GgufWriter, PyPiGgufReadsEveryFileTheWriterMakes) {
  if (auto why = test::python_missing("gguf, numpy"); !why.empty()) QUANTLAB_SKIP() << why;
  const auto vocab = test::shared_dir() / "data/tokenizer-tests/ggml-vocab-llama-spm.gguf";
  QUANTLAB_REQUIRE_FILE(vocab);
  const auto dir = test::temp_dir("gguf-pygguf");
  every_type_writer().write((dir / "types.gguf").string());
  auto w = every_type_writer();
  w.set("general.alignment", GgufValue::u32(64));
  w.add_tensor("placed", {4}, FormatId::F32, f32_bytes({1, 2, 3, 4}), 64 * 10);
  w.write((dir / "aligned.gguf").string());
  GgufWriter empty;
  empty.write((dir / "empty.gguf").string());
  for (const char* name : {"types.gguf", "aligned.gguf", "empty.gguf"}) {
    SCOPED_TRACE(name);
    test::expect_pygguf_agrees(dir / name);
  }
  GgufFile f(vocab.string());
  gguf_writer_from(f).write((dir / "vocab.gguf").string());
  test::expect_pygguf_agrees(dir / "vocab.gguf");
  fs::remove_all(dir);
}

TEST(GgufWriter, InvalidContentIsRefusedAndNoFileAppears) {
  const auto dir = test::temp_dir("gguf-invalid");
  const auto path = dir / "bad.gguf";
  auto expect_refused = [&](GgufWriter w, const std::string& field) {
    try {
      w.write(path.string());
      FAIL() << "accepted, expected an error on " << field;
    } catch (const Error& e) {
      EXPECT_EQ(e.source(), path.string());
      EXPECT_EQ(e.field(), field) << e.what();
    }
    EXPECT_FALSE(fs::exists(path));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0);
  };
  {
    GgufWriter w;
    w.add_tensor("a", {4}, FormatId::F32, std::vector<uint8_t>(15));
    expect_refused(w, "tensor 'a'");
  }
  {
    GgufWriter w;
    w.add_tensor("a", {4}, FormatId::F32, std::vector<uint8_t>(16));
    w.add_tensor("a", {4}, FormatId::F32, std::vector<uint8_t>(16));
    expect_refused(w, "tensor 'a'");
  }
  {
    GgufWriter w;
    w.add_tensor("a", {8}, FormatId::F32, std::vector<uint8_t>(32), 0);
    w.add_tensor("b", {4}, FormatId::F32, std::vector<uint8_t>(16), 0);
    expect_refused(w, "tensor 'b'");
  }
  {
    GgufWriter w;
    w.add_tensor("a", {4}, FormatId::F32, std::vector<uint8_t>(16), 8);
    expect_refused(w, "tensor 'a'");
  }
  {
    GgufWriter w;
    w.set("k", {GgufType::UINT8, uint64_t(256)});
    expect_refused(w, "k");
  }
  {
    GgufWriter w;
    w.set("k", GgufValue::array(GgufType::INT32, {GgufValue::u32(1)}));
    expect_refused(w, "k");
  }
  {
    GgufWriter w;
    w.set("general.alignment", GgufValue::u32(48));
    expect_refused(w, "general.alignment");
  }
  {
    GgufWriter w;
    w.add_tensor(std::string(64, 'x'), {1}, FormatId::F32, std::vector<uint8_t>(4));
    expect_refused(w, "tensor '" + std::string(64, 'x') + "'");
  }
  fs::remove_all(dir);
}
