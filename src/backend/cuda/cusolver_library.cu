#include "src/backend/cuda/cusolver_library.hpp"

#include "src/backend/cuda/shared_library.hpp"

#include <string>

namespace quantlab::cuda {
namespace {

CusolverLibrary open_cusolver() {
  const std::string library = "libcusolver";
  void* handle = open_shared_library(library, CUSOLVER_VER_MAJOR, "GPTQ on a GPU needs cuSOLVER " + std::to_string(CUSOLVER_VER_MAJOR));
  CusolverLibrary l;
  resolve_symbol(handle, library, "cusolverDnCreate", l.create);
  resolve_symbol(handle, library, "cusolverDnDestroy", l.destroy);
  resolve_symbol(handle, library, "cusolverDnSetStream", l.set_stream);
  resolve_symbol(handle, library, "cusolverDnDpotrf_bufferSize", l.potrf_buffer_size);
  resolve_symbol(handle, library, "cusolverDnDpotrf", l.potrf);
  resolve_symbol(handle, library, "cusolverDnDpotri_bufferSize", l.potri_buffer_size);
  resolve_symbol(handle, library, "cusolverDnDpotri", l.potri);
  return l;  // the handle stays open for the life of the process
}

}  // namespace

const CusolverLibrary& cusolver_library() {
  static const CusolverLibrary library = open_cusolver();  // once per process; a failed open is tried again
  return library;
}

}  // namespace quantlab::cuda
