#pragma once
// Where a tensor lives and where an op runs: the host CPU or one CUDA GPU.
#include <cstddef>
#include <string>
#include <string_view>

namespace quantlab {

enum class DeviceType { Cpu, Cuda };

// Device memory of a GPU backend, in bytes. `held`/`peak`: what the backend itself has taken from
// the driver (its buffers, caches of freed buffers, workspaces and KV caches; not the CUDA context
// or cuBLAS's own workspace). `free`/`total`: the device's, as the driver reports them.
struct DeviceMemoryUse {
  size_t held = 0, peak = 0;
  size_t free = 0, total = 0;
};

struct Device {
  DeviceType type = DeviceType::Cpu;
  int index = 0;  // GPU ordinal (0 for the CPU)

  bool is_cpu() const { return type == DeviceType::Cpu; }
  bool operator==(const Device&) const = default;
  // "cpu", "cuda:0"
  std::string name() const;
};

// "cpu", "cuda", "cuda:N"; "auto" (or empty) is the first GPU when this build has CUDA and a GPU is
// present, else the CPU. Throws Error naming `field` for anything else, or for a GPU that is absent.
Device parse_device(std::string_view text, std::string_view field = "--device");

// Whether this build was compiled with the CUDA backend, and how many GPUs it sees (0 without).
bool cuda_compiled();
int cuda_device_count();

}  // namespace quantlab
