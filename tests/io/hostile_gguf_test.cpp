#include "quantlab/io/gguf.hpp"
#include "hostile_support.hpp"

using namespace quantlab;
using test::Bytes;

namespace {

void open_gguf(const std::string& p) { GgufFile f(p); }

// Offsets of the fields of the base file, so cases can patch them.
struct Base {
  Bytes b;
  size_t n_tensors, n_kv, key0_len, key0, arch_type, arch_len, arr_type, arr_elem_type, arr_len, bool_val;
  size_t t_a_ndims, t_a_ne0, t_a_type, t_a_offset, t_b_name, t_b_offset, data_start;
};

// A valid GGUF: 4 KVs (string, u32 alignment, i32 array, bool), tensors a: f32[8] and b: f32[2,4].
Base base(const std::string& second_tensor = "b") {
  Base s;
  auto& b = s.b;
  b.put<uint32_t>(0x46554747).put<uint32_t>(3);
  s.n_tensors = b.size();
  b.put<uint64_t>(2);
  s.n_kv = b.size();
  b.put<uint64_t>(4);
  s.key0_len = b.size();
  b.str("general.architecture");
  s.key0 = s.key0_len + 8;
  s.arch_type = b.size();
  b.put<uint32_t>(8);
  s.arch_len = b.size();
  b.str("llama");
  b.str("general.alignment").put<uint32_t>(4).put<uint32_t>(32);
  b.str("arr");
  s.arr_type = b.size();
  b.put<uint32_t>(9);
  s.arr_elem_type = b.size();
  b.put<uint32_t>(5);
  s.arr_len = b.size();
  b.put<uint64_t>(3).put<int32_t>(1).put<int32_t>(2).put<int32_t>(3);
  b.str("flag").put<uint32_t>(7);
  s.bool_val = b.size();
  b.put<uint8_t>(1);
  b.str("a");
  s.t_a_ndims = b.size();
  b.put<uint32_t>(1);
  s.t_a_ne0 = b.size();
  b.put<uint64_t>(8);
  s.t_a_type = b.size();
  b.put<uint32_t>(0);
  s.t_a_offset = b.size();
  b.put<uint64_t>(0);
  s.t_b_name = b.size();
  b.str(second_tensor).put<uint32_t>(2).put<uint64_t>(2).put<uint64_t>(4).put<uint32_t>(0);
  s.t_b_offset = b.size();
  b.put<uint64_t>(32);
  s.data_start = (b.size() + 31) / 32 * 32;
  b.zeros(s.data_start - b.size() + 64);
  return s;
}

template <typename T>
std::vector<uint8_t> patched(Base s, size_t at, T v) {
  s.b.patch(at, v);
  return s.b.b;
}

}  // namespace

TEST(HostileGguf, BaseFileIsValid) {
  const auto dir = test::temp_dir("hostile-base");
  test::write_bytes(dir / "base.gguf", base().b.b);
  GgufFile f((dir / "base.gguf").string());
  EXPECT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().size(), 4u);
}

TEST(HostileGguf, TruncatedAtEveryHeaderByte) {
  const Base s = base();
  // Every cut inside the header, and inside the data of the last tensor.
  EXPECT_EQ(test::expect_every_truncation_rejected("trunc.gguf", s.b.b, s.data_start, open_gguf), s.data_start);
  test::expect_rejected("trunc-data.gguf", std::vector<uint8_t>(s.b.b.begin(), s.b.b.end() - 1), open_gguf, "tensor 'b'");
}

TEST(HostileGguf, BitFlipsInTheHeaderAreRejectedOrHarmless) {
  const Base s = base();
  test::expect_bit_flips_safe("flip.gguf", s.b.b, 0, s.data_start, open_gguf);
}

TEST(HostileGguf, HandCraftedCases) {
  const Base s = base();
  test::expect_rejected("magic.gguf", patched(s, 0, uint32_t(0x46554748)), open_gguf, "magic");
  test::expect_rejected("version1.gguf", patched(s, 4, uint32_t(1)), open_gguf, "version");
  test::expect_rejected("version99.gguf", patched(s, 4, uint32_t(99)), open_gguf, "version");
  test::expect_rejected("tensor-count.gguf", patched(s, s.n_tensors, uint64_t(1) << 60), open_gguf, "tensor_count");
  test::expect_rejected("kv-count.gguf", patched(s, s.n_kv, ~uint64_t(0)), open_gguf, "metadata_kv_count");
  test::expect_rejected("key-length.gguf", patched(s, s.key0_len, uint64_t(1) << 62), open_gguf, "metadata[0] key");
  test::expect_rejected("string-length.gguf", patched(s, s.arch_len, uint64_t(1) << 40), open_gguf, "general.architecture");
  test::expect_rejected("array-length.gguf", patched(s, s.arr_len, uint64_t(1) << 61), open_gguf, "arr");
  test::expect_rejected("value-type.gguf", patched(s, s.arch_type, uint32_t(13)), open_gguf, "general.architecture");
  test::expect_rejected("array-elem-type.gguf", patched(s, s.arr_elem_type, uint32_t(0xffffffff)), open_gguf, "arr");
  test::expect_rejected("bool-value.gguf", patched(s, s.bool_val, uint8_t(2)), open_gguf, "flag");
  test::expect_rejected("key-utf8.gguf", patched(s, s.key0, uint8_t(0xc0)), open_gguf, "metadata[0]");
  test::expect_rejected("n-dims.gguf", patched(s, s.t_a_ndims, uint32_t(5)), open_gguf, "tensor 'a'");
  test::expect_rejected("zero-dim.gguf", patched(s, s.t_a_ne0, uint64_t(0)), open_gguf, "tensor 'a'");
  test::expect_rejected("huge-dim.gguf", patched(s, s.t_a_ne0, uint64_t(1) << 63), open_gguf, "tensor 'a'");
  test::expect_rejected("tensor-type.gguf", patched(s, s.t_a_type, uint32_t(77)), open_gguf, "tensor 'a'");
  test::expect_rejected("misaligned.gguf", patched(s, s.t_b_offset, uint64_t(4)), open_gguf, "tensor 'b'");
  test::expect_rejected("past-eof.gguf", patched(s, s.t_b_offset, uint64_t(1) << 20), open_gguf, "tensor 'b'");
  test::expect_rejected("offset-wraps.gguf", patched(s, s.t_b_offset, ~uint64_t(31)), open_gguf, "tensor 'b'");
  test::expect_rejected("overlap.gguf", patched(s, s.t_b_offset, uint64_t(0)), open_gguf, "tensor 'b'");
  test::expect_rejected("duplicate-tensor.gguf", base("a").b.b, open_gguf, "tensor 'a'");
  // Row length not a multiple of the block size is checked through the registry (f32: 1); a
  // data section that starts past the end of the file:
  test::expect_rejected("no-data.gguf", std::vector<uint8_t>(s.b.b.begin(), s.b.b.begin() + long(s.t_b_offset + 8)), open_gguf,
                        "data section");
}

TEST(HostileGguf, MetadataOddities) {
  auto one_kv = [](const std::function<void(Bytes&)>& kv, uint64_t n_kv = 1) {
    Bytes b;
    b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(n_kv);
    kv(b);
    return b.b;
  };
  test::expect_rejected("duplicate-key.gguf", one_kv([](Bytes& b) {
    b.str("k").put<uint32_t>(4).put<uint32_t>(1);
    b.str("k").put<uint32_t>(4).put<uint32_t>(2);
  }, 2), open_gguf, "k");
  test::expect_rejected("alignment-48.gguf", one_kv([](Bytes& b) { b.str("general.alignment").put<uint32_t>(4).put<uint32_t>(48); }),
                        open_gguf, "general.alignment");
  test::expect_rejected("alignment-string.gguf", one_kv([](Bytes& b) { b.str("general.alignment").put<uint32_t>(8).str("32"); }),
                        open_gguf, "general.alignment");
  test::expect_rejected("empty-key.gguf", one_kv([](Bytes& b) { b.str("").put<uint32_t>(4).put<uint32_t>(1); }), open_gguf, "metadata[0]");
  test::expect_rejected("deep-arrays.gguf", one_kv([](Bytes& b) {
    b.str("deep").put<uint32_t>(9);
    for (int i = 0; i < 20; ++i) b.put<uint32_t>(9).put<uint64_t>(1);
    b.put<uint32_t>(4).put<uint64_t>(0);
  }), open_gguf, "deep");
  // A control character in a key must not break the one-line error.
  test::expect_rejected("newline-key.gguf", one_kv([](Bytes& b) { b.str("bad\nkey").put<uint32_t>(99); }), open_gguf, "bad\\x0akey");
  // Many tiny arrays: the element budget stops memory blow-up from a hostile file.
  test::expect_rejected("element-budget.gguf", one_kv([](Bytes& b) {
    b.str("big").put<uint32_t>(9).put<uint32_t>(0).put<uint64_t>(uint64_t(1) << 25);
    b.zeros(size_t(1) << 25);
  }), open_gguf, "big");
}
