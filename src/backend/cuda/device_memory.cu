#include "src/backend/cuda/device_memory.hpp"
#include "src/backend/cuda/cuda_common.cuh"

#include <array>
#include <atomic>
#include <string>

namespace quantlab::cuda {
namespace {

constexpr int kMaxDevices = 64;

struct Meter {
  std::atomic<size_t> held{0}, peak{0};
};
std::array<Meter, kMaxDevices>& meters() {
  static std::array<Meter, kMaxDevices> m;
  return m;
}

Meter& meter_of(int device) {
  if (device < 0 || device >= kMaxDevices) throw Error("cuda backend", "device", "index " + std::to_string(device) + " out of range");
  return meters()[size_t(device)];
}

}  // namespace

void* device_malloc(size_t bytes, const char* what) {
  int device = 0;
  check(cudaGetDevice(&device), what);
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), (std::string(what) + " (" + std::to_string(bytes) + " bytes)").c_str());
  Meter& m = meter_of(device);
  const size_t now = m.held.fetch_add(bytes) + bytes;
  size_t seen = m.peak.load();
  while (now > seen && !m.peak.compare_exchange_weak(seen, now)) {
  }
  return p;
}

void device_free(void* p, size_t bytes) {
  if (!p) return;
  // Frees may come from any thread, whose current device need not be the pointer's.
  cudaPointerAttributes attr{};
  const bool known = cudaPointerGetAttributes(&attr, p) == cudaSuccess;
  cudaFree(p);
  if (known) meter_of(attr.device).held.fetch_sub(bytes);
}

MeterReading device_meter(int device) {
  const Meter& m = meter_of(device);
  return {m.held.load(), m.peak.load()};
}

}  // namespace quantlab::cuda
