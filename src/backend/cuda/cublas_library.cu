#include "src/backend/cuda/cublas_library.hpp"

#include "src/backend/cuda/shared_library.hpp"

#include <string>

namespace quantlab::cuda {
namespace {

CublasLibrary open_cublas() {
  const std::string library = "libcublas";
  void* handle = open_shared_library(library, CUBLAS_VER_MAJOR, "the CUDA backend needs cuBLAS " + std::to_string(CUBLAS_VER_MAJOR));
  CublasLibrary l;
  resolve_symbol(handle, library, "cublasCreate_v2", l.create);
  resolve_symbol(handle, library, "cublasDestroy_v2", l.destroy);
  resolve_symbol(handle, library, "cublasSetStream_v2", l.set_stream);
  resolve_symbol(handle, library, "cublasSgemm_v2", l.sgemm);
  resolve_symbol(handle, library, "cublasDsyrk_v2", l.dsyrk);
  resolve_symbol(handle, library, "cublasGemmEx", l.gemm_ex);
  return l;  // the handle stays open for the life of the process
}

}  // namespace

const CublasLibrary& cublas_library() {
  static const CublasLibrary library = open_cublas();  // once per process; a failed open is tried again
  return library;
}

}  // namespace quantlab::cuda
