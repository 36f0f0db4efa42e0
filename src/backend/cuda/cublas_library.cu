#include "src/backend/cuda/cublas_library.hpp"

#include "quantlab/core/error.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace quantlab::cuda {
namespace {

template <class F>
void resolve(void* handle, const std::string& library, const char* symbol, F& out) {
  out = reinterpret_cast<F>(::dlsym(handle, symbol));
  if (!out) throw Error(library, symbol, "entry point not found in the cuBLAS library");
}

CublasLibrary open_cublas() {
  // The soname of the toolkit the backend was compiled against first: its ABI is the one the headers describe.
  const std::string versioned = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  std::string library = versioned;
  void* handle = ::dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const std::string first = ::dlerror();
    library = "libcublas.so";
    handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      throw Error(versioned, "dlopen",
                  first + " (the CUDA backend needs cuBLAS " + std::to_string(CUBLAS_VER_MAJOR) +
                      ": install the CUDA toolkit's libraries or add their folder to LD_LIBRARY_PATH)");
  }
  CublasLibrary l;
  resolve(handle, library, "cublasCreate_v2", l.create);
  resolve(handle, library, "cublasDestroy_v2", l.destroy);
  resolve(handle, library, "cublasSetStream_v2", l.set_stream);
  resolve(handle, library, "cublasSgemm_v2", l.sgemm);
  resolve(handle, library, "cublasDsyrk_v2", l.dsyrk);
  resolve(handle, library, "cublasGemmEx", l.gemm_ex);
  return l;  // the handle stays open for the life of the process
}

}  // namespace

const CublasLibrary& cublas_library() {
  static std::once_flag once;
  static CublasLibrary library;
  std::call_once(once, [] { library = open_cublas(); });
  return library;
}

}  // namespace quantlab::cuda
