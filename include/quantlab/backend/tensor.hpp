#pragma once
// The one tensor type of quantlab (DESIGN.md "Tensors know their device"): a row-major matrix of
// `rows` x `cols` values in one registry format, on one device. Weights are usually views into a
// memory-mapped model file (no copy, any format); activations are f32 tensors a backend allocated.
// Vectors (norm weights, biases) are 1 x n tensors. A tensor either owns its storage (`storage`
// keeps it alive) or views storage someone else keeps alive.
#include "quantlab/backend/device.hpp"
#include "quantlab/formats/format.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace quantlab {

struct Tensor {
  FormatId format = FormatId::F32;
  const void* data = nullptr;  // first byte of row 0 (device memory when device is a GPU)
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_stride = 0;       // bytes from one row to the next
  Device device{};
  std::shared_ptr<void> storage;  // owner of the bytes, or null for a view

  bool empty() const { return data == nullptr; }
  bool owns_storage() const { return storage != nullptr; }
  int64_t elements() const { return rows * cols; }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + size_t(r) * row_stride; }
  // Mutable access for the backend that owns the device (activations are written in place).
  void* mutable_data() const { return const_cast<void*>(data); }
  float* f32() const { return static_cast<float*>(mutable_data()); }
  // Rows [begin, begin + n) as a view sharing this tensor's storage.
  Tensor row_range(int64_t begin, int64_t n) const;
  // Columns [begin, begin + n) of every row as a view (same row stride); only for formats of one
  // value per element (F32, F16, BF16, F64), whose columns have their own bytes.
  Tensor columns(int64_t begin, int64_t n) const;
  // The same bytes seen as `rows` x `cols` (same format, rows packed back to back); throws if the
  // element count or the packing does not allow it.
  Tensor reshaped(int64_t rows, int64_t cols) const;
};

// A host view of `rows` x `cols` values at `data`, rows packed back to back; throws if the format
// cannot be decoded (F64 and the integer formats, plain values, are allowed) or `cols` is not a multiple
// of its block size.
Tensor host_tensor(FormatId format, const void* data, int64_t rows, int64_t cols);

}  // namespace quantlab
