// Device names, tensor views and the CPU backend's bookkeeping (the ops themselves are held to
// the kernels by backend_parity_test and to llama.cpp by the model tests).
#include "quantlab/backend/backend.hpp"
#include "quantlab/core/error.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace quantlab {
namespace {

TEST(Device, ParsesCpuAndRefusesUnknownNames) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  EXPECT_EQ("cpu", parse_device("cpu").name());
  EXPECT_THROW(parse_device("gpu"), Error);
  EXPECT_THROW(parse_device("cuda:x"), Error);
  EXPECT_THROW(parse_device("cuda:-1"), Error);
  if (cuda_device_count() == 0) {
    // Without a GPU (CI), asking for one is an error that says so, and auto means the CPU.
    EXPECT_THROW(parse_device("cuda"), Error);
    EXPECT_THROW(parse_device("cuda:0"), Error);
    EXPECT_TRUE(parse_device("auto").is_cpu());
  } else {
    EXPECT_EQ("cuda:0", parse_device("cuda").name());
    EXPECT_EQ("cuda:0", parse_device("auto").name());
    EXPECT_THROW(parse_device("cuda:" + std::to_string(cuda_device_count())), Error);
  }
}

TEST(Tensor, RowRangeAndReshapeViewTheSameBytes) {
  std::vector<float> v(12);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  const Tensor t = host_tensor(FormatId::F32, v.data(), 3, 4);
  const Tensor r = t.row_range(1, 2);
  EXPECT_EQ(2, r.rows);
  EXPECT_EQ(4.0f, r.f32()[0]);
  EXPECT_THROW(t.row_range(2, 2), Error);
  const Tensor s = t.reshaped(2, 6);
  EXPECT_EQ(6, s.cols);
  EXPECT_EQ(6.0f, s.row_range(1, 1).f32()[0]);
  EXPECT_EQ(8, t.reshaped(2, 4).elements());  // a prefix of the values
  EXPECT_THROW(t.reshaped(5, 3), Error);
}

// Index and code arrays go to a device as host tensors of integer formats (the GPU GPTQ sweep's
// column order is I32): plain values with no decoder, viewed like F64.
TEST(Tensor, HostViewsOfPlainValueFormats) {
  std::vector<int64_t> v(6);
  const std::pair<FormatId, size_t> plain[] = {
      {FormatId::I8, 1}, {FormatId::I16, 2}, {FormatId::I32, 4}, {FormatId::I64, 8}, {FormatId::F64, 8}};
  for (const auto& [format, bytes] : plain) {
    const Tensor t = host_tensor(format, v.data(), 2, 3);
    EXPECT_EQ(3 * bytes, t.row_stride) << int(format);
    EXPECT_EQ(6, t.elements());
  }
}

TEST(CpuBackend, PlacesHostTensorsWithoutCopyingAndOwnsWhatItAllocates) {
  ThreadPool pool(2);
  const auto be = make_cpu_backend(pool);
  std::vector<float> v(8, 1.0f);
  const Tensor t = host_tensor(FormatId::F32, v.data(), 2, 4);
  EXPECT_EQ(t.data, be->place(t).data);
  Tensor a = be->alloc(FormatId::F32, 2, 4);
  EXPECT_TRUE(a.owns_storage());
  be->from_host(v.data(), a);
  std::vector<float> back(8);
  be->to_host(a, back.data());
  EXPECT_EQ(v, back);
  EXPECT_THROW(be->make_kv_cache(1, 0, 4), Error);
  auto cache = be->make_kv_cache(1, 2, 4);
  AttentionShape s;
  s.n_head = 1;
  s.n_head_kv = 1;
  s.head_dim = 4;
  Tensor q = be->alloc(FormatId::F32, 3, 4), out = be->alloc(FormatId::F32, 3, 4);
  EXPECT_THROW(be->attention(s, q, q, q, *cache, 0, 0, out), Error);  // 3 tokens into a cache of 2
}

}  // namespace
}  // namespace quantlab
