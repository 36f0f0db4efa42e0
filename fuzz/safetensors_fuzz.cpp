// safetensors header parser on raw bytes; accepted headers must describe in-bounds, disjoint data.
#include "quantlab/core/error.hpp"
#include "quantlab/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  try {
    const SafetensorsHeader h = parse_safetensors("<fuzz>", data, size);
    uint64_t last_end = 0;
    for (const auto& t : h.tensors) {
      if (h.data_offset + t.end > size) __builtin_trap();
      if (t.nbytes() != uint64_t(t.n_elements()) * t.dtype->bytes) __builtin_trap();
      if (t.nbytes() && t.begin < last_end) __builtin_trap();
      if (t.nbytes()) last_end = t.end;
      volatile uint8_t sink = 0;  // touch the data so ASan sees any out-of-bounds view
      if (t.nbytes()) sink = data[h.data_offset + t.begin] ^ data[h.data_offset + t.end - 1];
      (void)sink;
    }
  } catch (const Error&) {
  }
  return 0;
}
