#include "quantlab/quant/int_packing.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"

#include <string>

namespace quantlab {
namespace {

// value k of a stream occupies bits [k*bits, (k+1)*bits) of the little-endian word sequence
void put_bits(uint32_t* words, int64_t k, int bits, uint32_t v) {
  const int64_t bit = k * bits;
  const int64_t w = bit / 32, off = bit % 32;
  words[w] |= v << off;
  if (off + bits > 32) words[w + 1] |= v >> (32 - off);
}

uint32_t get_bits(const uint32_t* words, int64_t k, int bits) {
  const int64_t bit = k * bits;
  const int64_t w = bit / 32, off = bit % 32;
  uint64_t v = words[w] >> off;
  if (off + bits > 32) v |= uint64_t(words[w + 1]) << (32 - off);
  return uint32_t(v) & ((1u << bits) - 1);
}

void check_packable(const IntQuantizedMatrix& m, int64_t multiple) {
  if ((m.cols * m.spec.bits) % 32 != 0 || (m.rows * m.spec.bits) % 32 != 0 || m.rows % multiple != 0)
    throw Error("", "shape", "a [" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "] weight cannot be packed at " +
                                 std::to_string(m.spec.bits) + " bits");
}

constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

}  // namespace

PackedIntWeights pack_gptq(const IntQuantizedMatrix& m) {
  check_packable(m, 1);
  const int bits = m.spec.bits;
  const uint32_t mask = (1u << bits) - 1;
  PackedIntWeights p;
  p.in = m.cols, p.out = m.rows, p.n_groups = m.n_groups, p.bits = bits;
  const int64_t wrows = m.cols * bits / 32, zcols = m.rows * bits / 32;
  p.qweight_shape = {wrows, m.rows};
  p.qzeros_shape = {m.n_groups, zcols};
  p.scales_shape = {m.n_groups, m.rows};
  std::vector<uint32_t> column(static_cast<size_t>(wrows));
  p.qweight.assign(size_t(wrows * m.rows), 0);
  for (int64_t o = 0; o < m.rows; ++o) {
    std::fill(column.begin(), column.end(), 0u);
    for (int64_t i = 0; i < m.cols; ++i) put_bits(column.data(), i, bits, m.codes[size_t(o * m.cols + i)]);
    for (int64_t w = 0; w < wrows; ++w) p.qweight[size_t(w * m.rows + o)] = int32_t(column[size_t(w)]);
  }
  p.qzeros.assign(size_t(m.n_groups * zcols), 0);
  p.scales.resize(size_t(m.n_groups * m.rows));
  for (int64_t g = 0; g < m.n_groups; ++g) {
    auto* zw = reinterpret_cast<uint32_t*>(p.qzeros.data() + g * zcols);
    for (int64_t o = 0; o < m.rows; ++o) {
      const auto& prm = m.params[size_t(o * m.n_groups + g)];
      put_bits(zw, o, bits, (uint32_t(int32_t(prm.zero) - 1)) & mask);
      p.scales[size_t(g * m.rows + o)] = f32_to_fp16(prm.scale);
    }
  }
  p.g_idx = m.g_idx;
  return p;
}

IntQuantizedMatrix unpack_gptq(const PackedIntWeights& p, bool symmetric) {
  IntQuantizedMatrix m;
  m.rows = p.out, m.cols = p.in, m.n_groups = p.n_groups;
  m.spec = {p.bits, p.n_groups > 0 ? p.in / p.n_groups : p.in, symmetric};
  const int64_t wrows = p.in * p.bits / 32, zcols = p.out * p.bits / 32;
  m.codes.resize(size_t(m.rows * m.cols));
  std::vector<uint32_t> column(static_cast<size_t>(wrows));
  for (int64_t o = 0; o < m.rows; ++o) {
    for (int64_t w = 0; w < wrows; ++w) column[size_t(w)] = uint32_t(p.qweight[size_t(w * m.rows + o)]);
    for (int64_t i = 0; i < m.cols; ++i) m.codes[size_t(o * m.cols + i)] = uint8_t(get_bits(column.data(), i, p.bits));
  }
  m.params.resize(size_t(m.rows * m.n_groups));
  for (int64_t g = 0; g < m.n_groups; ++g) {
    const auto* zw = reinterpret_cast<const uint32_t*>(p.qzeros.data() + g * zcols);
    for (int64_t o = 0; o < m.rows; ++o)
      m.params[size_t(o * m.n_groups + g)] = {fp16_to_f32(p.scales[size_t(g * m.rows + o)]),
                                              float(get_bits(zw, o, p.bits) + 1)};
  }
  m.g_idx = p.g_idx;
  return m;
}

PackedIntWeights pack_awq(const IntQuantizedMatrix& m) {
  if (m.spec.bits != 4) throw Error("", "bits", "AWQ GEMM packing takes 4 bits");
  if (m.rows % 8 != 0) throw Error("", "shape", "output dimension is not a multiple of 8");
  for (int64_t c = 0; c < m.cols; ++c)
    if (m.g_idx[size_t(c)] != int32_t(c / (m.spec.group_size <= 0 ? m.cols : m.spec.group_size)))
      throw Error("", "g_idx", "AWQ packing cannot store act-order groups");
  PackedIntWeights p;
  p.in = m.cols, p.out = m.rows, p.n_groups = m.n_groups, p.bits = 4;
  const int64_t pc = m.rows / 8;
  p.qweight_shape = {m.cols, pc};
  p.qzeros_shape = {m.n_groups, pc};
  p.scales_shape = {m.n_groups, m.rows};
  p.qweight.assign(size_t(m.cols * pc), 0);
  for (int64_t i = 0; i < m.cols; ++i)
    for (int64_t j = 0; j < pc; ++j) {
      uint32_t word = 0;
      for (int k = 0; k < 8; ++k) word |= uint32_t(m.codes[size_t((j * 8 + kAwqOrder[k]) * m.cols + i)]) << (4 * k);
      p.qweight[size_t(i * pc + j)] = int32_t(word);
    }
  p.qzeros.assign(size_t(m.n_groups * pc), 0);
  p.scales.resize(size_t(m.n_groups * m.rows));
  for (int64_t g = 0; g < m.n_groups; ++g) {
    for (int64_t j = 0; j < pc; ++j) {
      uint32_t word = 0;
      for (int k = 0; k < 8; ++k) word |= uint32_t(m.params[size_t((j * 8 + kAwqOrder[k]) * m.n_groups + g)].zero) << (4 * k);
      p.qzeros[size_t(g * pc + j)] = int32_t(word);
    }
    for (int64_t o = 0; o < m.rows; ++o) p.scales[size_t(g * m.rows + o)] = f32_to_fp16(m.params[size_t(o * m.n_groups + g)].scale);
  }
  return p;
}

IntQuantizedMatrix unpack_awq(const PackedIntWeights& p, int64_t group_size) {
  IntQuantizedMatrix m;
  m.rows = p.out, m.cols = p.in, m.n_groups = p.n_groups;
  m.spec = {4, group_size, false};
  const int64_t pc = p.out / 8;
  m.codes.resize(size_t(m.rows * m.cols));
  for (int64_t i = 0; i < m.cols; ++i)
    for (int64_t j = 0; j < pc; ++j) {
      const uint32_t word = uint32_t(p.qweight[size_t(i * pc + j)]);
      for (int k = 0; k < 8; ++k) m.codes[size_t((j * 8 + kAwqOrder[k]) * m.cols + i)] = uint8_t((word >> (4 * k)) & 15);
    }
  m.params.resize(size_t(m.rows * m.n_groups));
  for (int64_t g = 0; g < m.n_groups; ++g)
    for (int64_t j = 0; j < pc; ++j) {
      const uint32_t word = uint32_t(p.qzeros[size_t(g * pc + j)]);
      for (int k = 0; k < 8; ++k) {
        const int64_t o = j * 8 + kAwqOrder[k];
        m.params[size_t(o * m.n_groups + g)] = {fp16_to_f32(p.scales[size_t(g * m.rows + o)]), float((word >> (4 * k)) & 15)};
      }
    }
  m.g_idx.resize(size_t(m.cols));
  for (int64_t c = 0; c < m.cols; ++c) m.g_idx[size_t(c)] = int32_t(c / group_size);
  return m;
}

}  // namespace quantlab
