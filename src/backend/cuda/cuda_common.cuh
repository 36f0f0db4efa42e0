#pragma once
// Helpers shared by the CUDA backend's translation units: error checks, f16/bf16 loads, warp
// reductions. Every reduction here is a fixed shuffle tree, so results do not depend on timing.
#include "quantlab/core/error.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace quantlab::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error("cuda backend", what, cudaGetErrorString(e));
}
// After a kernel launch: launch configuration errors surface here (execution errors at the next sync).
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

__device__ __forceinline__ float f16_at(const uint8_t* p) {
  return __half2float(__ushort_as_half(*reinterpret_cast<const uint16_t*>(p)));
}
// A 32-bit little-endian word at an address that is only 2-byte aligned (most GGUF blocks).
__device__ __forceinline__ uint32_t ld32_a2(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return uint32_t(h[0]) | (uint32_t(h[1]) << 16);
}
__device__ __forceinline__ uint32_t ld32_a4(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace quantlab::cuda
