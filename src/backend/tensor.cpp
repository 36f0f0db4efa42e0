#include "quantlab/backend/tensor.hpp"
#include "quantlab/core/error.hpp"

#include <string>

namespace quantlab {

Tensor Tensor::row_range(int64_t begin, int64_t n) const {
  if (begin < 0 || n < 0 || begin + n > rows)
    throw Error("tensor", "rows", "rows [" + std::to_string(begin) + ", " + std::to_string(begin + n) +
                                      ") outside 0.." + std::to_string(rows));
  Tensor t = *this;
  t.data = row(begin);
  t.rows = n;
  return t;
}

Tensor Tensor::columns(int64_t begin, int64_t n) const {
  const FormatTraits& ft = format_traits(format);
  if (ft.block_size != 1) throw Error("tensor", "columns", std::string(ft.name) + " packs columns into blocks");
  if (begin < 0 || n < 0 || begin + n > cols)
    throw Error("tensor", "columns", "columns [" + std::to_string(begin) + ", " + std::to_string(begin + n) +
                                         ") outside 0.." + std::to_string(cols));
  Tensor t = *this;
  t.data = static_cast<const uint8_t*>(data) + size_t(begin) * ft.block_bytes;
  t.cols = n;
  return t;
}

Tensor Tensor::reshaped(int64_t new_rows, int64_t new_cols) const {
  const size_t packed = row_bytes(format, cols);
  const size_t new_stride = row_bytes(format, new_cols);
  if (new_rows < 0 || (rows > 1 && row_stride != packed) ||
      size_t(new_rows) * new_stride > size_t(rows) * packed)
    throw Error("tensor", "shape", "cannot view " + std::to_string(rows) + " x " + std::to_string(cols) + " as " +
                                       std::to_string(new_rows) + " x " + std::to_string(new_cols));
  Tensor t = *this;
  t.rows = new_rows;
  t.cols = new_cols;
  t.row_stride = new_stride;
  return t;
}

Tensor host_tensor(FormatId format, const void* data, int64_t rows, int64_t cols) {
  const auto& f = format_traits(format);
  // F64 and the integer formats have no decoder (no weight is stored in them), but they are plain
  // values: the quantizers' sums and factors, and index or code arrays that go to a device.
  const bool plain = format == FormatId::F64 || format == FormatId::I8 || format == FormatId::I16 ||
                     format == FormatId::I32 || format == FormatId::I64;
  if (!f.to_float && !plain)
    throw Error("", "format", "format " + std::string(f.name) + " cannot be decoded");
  Tensor t;
  t.format = format;
  t.data = data;
  t.rows = rows;
  t.cols = cols;
  t.row_stride = row_bytes(format, cols);
  return t;
}

}  // namespace quantlab
