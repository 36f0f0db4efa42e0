#include "quantlab/backend/device.hpp"
#include "quantlab/backend/backend.hpp"
#include "quantlab/core/error.hpp"

#include <charconv>
#include <string>

#if QUANTLAB_HAVE_CUDA
#include "src/backend/cuda/cuda_backend.hpp"
#endif

namespace quantlab {

std::string Device::name() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

bool cuda_compiled() {
#if QUANTLAB_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#if QUANTLAB_HAVE_CUDA
  return cuda_device_count_impl();
#else
  return 0;
#endif
}

Device parse_device(std::string_view text, std::string_view field) {
  const std::string f(field);
  if (text.empty() || text == "auto") return cuda_device_count() > 0 ? Device{DeviceType::Cuda, 0} : Device{};
  if (text == "cpu") return Device{};
  if (text.substr(0, 4) != "cuda")
    throw Error(f, std::string(text), "unknown device (expected cpu, cuda, cuda:N or auto)");
  int index = 0;
  if (text.size() > 4) {
    const std::string_view n = text.substr(text.size() > 5 && text[4] == ':' ? 5 : 4);
    const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), index);
    if (text[4] != ':' || ec != std::errc() || end != n.data() + n.size() || index < 0)
      throw Error(f, std::string(text), "unknown device (expected cpu, cuda, cuda:N or auto)");
  }
  if (!cuda_compiled()) throw Error(f, std::string(text), "this build of quantlab has no CUDA backend (built without nvcc)");
  const int count = cuda_device_count();
  if (index >= count)
    throw Error(f, std::string(text), count == 0 ? "no CUDA GPU found" : "only " + std::to_string(count) + " CUDA GPU(s) found");
  return Device{DeviceType::Cuda, index};
}

std::unique_ptr<Backend> make_backend(const Device& device, ThreadPool& pool) {
  if (device.is_cpu()) return make_cpu_backend(pool);
#if QUANTLAB_HAVE_CUDA
  return make_cuda_backend(device.index, pool);
#else
  throw Error("--device", device.name(), "this build of quantlab has no CUDA backend (built without nvcc)");
#endif
}

}  // namespace quantlab
