#pragma once
// A recorded decode step of the CUDA backend: one CUDA graph whose kernels read their position
// from a device int that each replay sets (see Context::step_position), so one recording serves
// every later position. A replay is refused once a buffer the recording used may have been freed
// or regrown: the backend's counters of such events then differ from the recording's.
#include "quantlab/backend/backend.hpp"
#include "src/backend/cuda/kernels.hpp"

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

namespace quantlab::cuda {

class CudaStepGraph final : public StepGraph {
 public:
  // Takes ownership of `exec` and of the device int `position_dev` the graph's kernels read.
  CudaStepGraph(cudaStream_t stream, cudaGraphExec_t exec, int32_t* position_dev, std::shared_ptr<const BufferEvents> events,
                uint64_t stamp);
  ~CudaStepGraph() override;
  CudaStepGraph(const CudaStepGraph&) = delete;
  CudaStepGraph& operator=(const CudaStepGraph&) = delete;
  bool replay(int64_t position) override;

 private:
  cudaStream_t stream_;
  cudaGraphExec_t exec_;
  int32_t* position_dev_;
  std::shared_ptr<const BufferEvents> events_;
  uint64_t stamp_;
};

}  // namespace quantlab::cuda
