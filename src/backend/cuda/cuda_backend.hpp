#pragma once
// Entry points of the CUDA backend (src/backend/cuda/*.cu), compiled only where nvcc exists
// (cmake/cuda.cmake defines QUANTLAB_HAVE_CUDA then). device.cpp dispatches to these.
#include "quantlab/backend/backend.hpp"

#include <memory>
#include <string>

namespace quantlab {

// The backend of GPU `index`; throws Error naming the device when it is absent or unusable.
std::unique_ptr<Backend> make_cuda_backend(int index, ThreadPool& pool);
// GPUs the CUDA runtime sees (0 when there is no driver or no device; never throws).
int cuda_device_count_impl();
// "NVIDIA H100 80GB HBM3"; throws Error when the device is absent.
std::string cuda_device_name(int index);

}  // namespace quantlab
