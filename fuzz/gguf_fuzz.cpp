// GGUF reader, and the writer as its oracle: whatever the reader accepts, the writer must either
// refuse with a quantlab::Error (e.g. a name llama.cpp would not load) or write a file that the
// reader accepts again with the same metadata and tensors.
#include "fuzz_file.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const std::string& path = fuzz::write_input(data, size);
  try {
    GgufFile f(path);
    std::vector<uint8_t> again;
    try {
      again = gguf_writer_from(f).to_bytes();
    } catch (const Error&) {
      return 0;
    }
    const std::string& p2 = fuzz::write_input(again.data(), again.size());
    GgufFile g(p2);  // must not throw
    if (g.metadata().size() != f.metadata().size() || g.tensors().size() != f.tensors().size()) __builtin_trap();
    for (size_t i = 0; i < f.tensors().size(); ++i) {
      const auto& a = f.tensors()[i];
      const auto& b = g.tensors()[i];
      if (a.name != b.name || a.ne != b.ne || a.type != b.type || a.offset != b.offset) __builtin_trap();
      if (std::memcmp(f.tensor_data(a), g.tensor_data(b), a.nbytes) != 0) __builtin_trap();
    }
  } catch (const Error&) {
  }
  return 0;
}
