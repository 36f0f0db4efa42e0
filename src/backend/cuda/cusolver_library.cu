#include "src/backend/cuda/cusolver_library.hpp"

#include "quantlab/core/error.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace quantlab::cuda {
namespace {

template <class F>
void resolve(void* handle, const std::string& library, const char* symbol, F& out) {
  out = reinterpret_cast<F>(::dlsym(handle, symbol));
  if (!out) throw Error(library, symbol, "entry point not found in the cuSOLVER library");
}

CusolverLibrary open_cusolver() {
  const std::string versioned = "libcusolver.so." + std::to_string(CUSOLVER_VER_MAJOR);
  std::string library = versioned;
  void* handle = ::dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const std::string first = ::dlerror();
    library = "libcusolver.so";
    handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      throw Error(versioned, "dlopen",
                  first + " (GPTQ on a GPU needs cuSOLVER " + std::to_string(CUSOLVER_VER_MAJOR) +
                      ": install the CUDA toolkit's libraries or add their folder to LD_LIBRARY_PATH)");
  }
  CusolverLibrary l;
  resolve(handle, library, "cusolverDnCreate", l.create);
  resolve(handle, library, "cusolverDnDestroy", l.destroy);
  resolve(handle, library, "cusolverDnSetStream", l.set_stream);
  resolve(handle, library, "cusolverDnDpotrf_bufferSize", l.potrf_buffer_size);
  resolve(handle, library, "cusolverDnDpotrf", l.potrf);
  resolve(handle, library, "cusolverDnDpotri_bufferSize", l.potri_buffer_size);
  resolve(handle, library, "cusolverDnDpotri", l.potri);
  return l;  // the handle stays open for the life of the process
}

}  // namespace

const CusolverLibrary& cusolver_library() {
  static std::once_flag once;
  static CusolverLibrary library;
  std::call_once(once, [] { library = open_cusolver(); });
  return library;
}

}  // namespace quantlab::cuda
