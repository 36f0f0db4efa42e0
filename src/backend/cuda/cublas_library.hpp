#pragma once
// cuBLAS, opened with dlopen the first time a CUDA backend is made rather than linked: loading
// libcublasLt costs every process ~130 MiB of resident memory (its relocated data and code), which a
// CPU-only run (quantize, eval on the host) must not pay, and a quantlab built with nvcc must start
// on a machine that has no CUDA libraries at all. The six entry points the backend calls are here.
#include <cublas_v2.h>

namespace quantlab::cuda {

struct CublasLibrary {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasDsyrk_v2) dsyrk = nullptr;
  // The exported C function (the headers add a C++ overload taking a cudaDataType compute type).
  using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                    const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                                    cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  GemmEx gemm_ex = nullptr;
};

// Opens libcublas.so.<major of the headers> (then libcublas.so) once; throws Error naming the library
// and dlerror()'s reason when it cannot be opened or lacks an entry point.
const CublasLibrary& cublas_library();

}  // namespace quantlab::cuda
