#include "src/backend/cuda/step_graph.cuh"
#include "src/backend/cuda/cuda_common.cuh"

#include <utility>

namespace quantlab::cuda {

CudaStepGraph::CudaStepGraph(cudaStream_t stream, cudaGraphExec_t exec, int32_t* position_dev,
                             std::shared_ptr<const BufferEvents> events, uint64_t stamp)
    : stream_(stream), exec_(exec), position_dev_(position_dev), events_(std::move(events)), stamp_(stamp) {}

CudaStepGraph::~CudaStepGraph() {
  cudaStreamSynchronize(stream_);  // a replay may still read the position
  cudaGraphExecDestroy(exec_);
  cudaFree(position_dev_);
}

bool CudaStepGraph::replay(int64_t position) {
  if (events_->stamp() != stamp_) return false;
  const int32_t value = int32_t(position);
  // From pageable memory: the call returns once `value` has been read, so it may go out of scope.
  check(cudaMemcpyAsync(position_dev_, &value, sizeof value, cudaMemcpyHostToDevice, stream_), "step position");
  check(cudaGraphLaunch(exec_, stream_), "step graph launch");
  return true;
}

}  // namespace quantlab::cuda
