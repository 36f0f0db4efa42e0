#pragma once
// The device memory the CUDA backend's own allocations hold, per GPU: buffers (and the pool's cache
// of freed ones), workspaces, KV caches. Every such cudaMalloc/cudaFree goes through here, so a run
// can report its peak (Backend::memory_use) and a memory plan can be checked against it. The CUDA
// context and cuBLAS's internal workspace are not counted (the driver owns them).
#include <cstddef>

namespace quantlab::cuda {

// cudaMalloc on the calling thread's current device; throws naming `what` and the size on failure.
void* device_malloc(size_t bytes, const char* what);
// cudaFree of a pointer device_malloc returned for `bytes` (null is ignored).
void device_free(void* p, size_t bytes);

struct MeterReading {
  size_t held = 0, peak = 0;
};
MeterReading device_meter(int device);

}  // namespace quantlab::cuda
