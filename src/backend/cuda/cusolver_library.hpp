#pragma once
// cuSOLVER, opened with dlopen the first time GPTQ factors a Hessian on a GPU (as cuBLAS is, see
// cublas_library.hpp): a decode-only or CPU-only run never loads it. The entry points the backend
// calls are here.
#include <cusolverDn.h>

namespace quantlab::cuda {

struct CusolverLibrary {
  decltype(&cusolverDnCreate) create = nullptr;
  decltype(&cusolverDnDestroy) destroy = nullptr;
  decltype(&cusolverDnSetStream) set_stream = nullptr;
  decltype(&cusolverDnDpotrf_bufferSize) potrf_buffer_size = nullptr;
  decltype(&cusolverDnDpotrf) potrf = nullptr;
  decltype(&cusolverDnDpotri_bufferSize) potri_buffer_size = nullptr;
  decltype(&cusolverDnDpotri) potri = nullptr;
};

// Opens libcusolver.so.<major of the headers> (then libcusolver.so) once; throws Error naming the
// library and dlerror()'s reason when it cannot be opened or lacks an entry point.
const CusolverLibrary& cusolver_library();

}  // namespace quantlab::cuda
