#pragma once
// dlopen of a CUDA library that a backend opens on first use rather than links (cuBLAS, cuSOLVER:
// a CPU-only run must not load them, and the binary must start where none is installed).
#include "quantlab/core/error.hpp"

#include <dlfcn.h>

#include <string>

namespace quantlab::cuda {

// The handle of `stem`.so.<major> (the soname of the headers built against), else `stem`.so; it stays
// open for the life of the process. Throws Error naming the library, dlerror()'s reason and `need`.
inline void* open_shared_library(const std::string& stem, int major, const std::string& need) {
  const std::string versioned = stem + ".so." + std::to_string(major);
  if (void* h = ::dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  const std::string first = ::dlerror();
  if (void* h = ::dlopen((stem + ".so").c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  throw Error(versioned, "dlopen", first + " (" + need + ": install the CUDA toolkit's libraries or add their folder to LD_LIBRARY_PATH)");
}

// `out` = the entry point `symbol` of `handle`; throws naming `library` when it is absent.
template <class F>
void resolve_symbol(void* handle, const std::string& library, const char* symbol, F& out) {
  out = reinterpret_cast<F>(::dlsym(handle, symbol));
  if (!out) throw Error(library, symbol, "entry point not found");
}

}  // namespace quantlab::cuda
