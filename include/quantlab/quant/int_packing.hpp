#pragma once
// Bit packing of group-wise integer weights into the tensors that transformers/vLLM load:
// - GPTQ (AutoGPTQ "gptq" v1 checkpoint format): qweight int32 [in*bits/32, out] (input values as
//   an LSB-first bit stream per output column), qzeros int32 [groups, out*bits/32] storing
//   zero-1 (the v1 convention), scales f16 [groups, out], g_idx int32 [in].
// - AWQ GEMM: qweight int32 [in, out/8] and qzeros int32 [groups, out/8], eight 4-bit values per
//   word in the interleaved order 0,2,4,6,1,3,5,7; zeros stored as they are; scales f16 [groups, out].
#include "quantlab/quant/int_grid.hpp"

#include <cstdint>
#include <vector>

namespace quantlab {

struct PackedIntWeights {
  int64_t in = 0, out = 0, n_groups = 0;
  int bits = 4;
  std::vector<int64_t> qweight_shape, qzeros_shape, scales_shape;
  std::vector<int32_t> qweight, qzeros, g_idx;
  std::vector<uint16_t> scales;  // f16 bits
};

PackedIntWeights pack_gptq(const IntQuantizedMatrix& m);
IntQuantizedMatrix unpack_gptq(const PackedIntWeights& p, bool symmetric);

PackedIntWeights pack_awq(const IntQuantizedMatrix& m);  // 4 bits, g_idx must be c / group_size
IntQuantizedMatrix unpack_awq(const PackedIntWeights& p, int64_t group_size);

}  // namespace quantlab
