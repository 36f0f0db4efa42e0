// safetensors header parser on raw bytes; accepted headers must describe in-bounds, disjoint data.
// Then the writer as its oracle: what was accepted is written again (same tensors, same metadata)
// and must either be refused with a quantlab::Error or parse back to the same tensors and bytes.
#include "quantlab/core/error.hpp"
#include "quantlab/io/safetensors.hpp"

#include <cstring>
#include <map>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  SafetensorsHeader h;
  try {
    h = parse_safetensors("<fuzz>", data, size);
  } catch (const Error&) {
    return 0;
  }
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
  SafetensorsWriter w;
  for (const auto& [k, v] : h.metadata) w.set_metadata(k, v);
  for (const auto& t : h.tensors) w.add_tensor(t.name, t.dtype->name, t.shape, data + h.data_offset + t.begin, t.nbytes());
  std::vector<uint8_t> again;
  try {
    again = w.to_bytes();
  } catch (const Error&) {
    return 0;
  }
  const SafetensorsHeader g = parse_safetensors("<again>", again.data(), again.size());  // must not throw
  if (g.metadata != h.metadata || g.tensors.size() != h.tensors.size()) __builtin_trap();
  std::map<std::string, const SafetensorsTensor*> by_name;  // empty tensors tie in data order
  for (const auto& t : g.tensors) by_name[t.name] = &t;
  for (const auto& a : h.tensors) {
    if (!by_name.count(a.name)) __builtin_trap();
    const auto& b = *by_name[a.name];
    if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape || a.nbytes() != b.nbytes()) __builtin_trap();
    if (a.nbytes() && std::memcmp(data + h.data_offset + a.begin, again.data() + g.data_offset + b.begin, a.nbytes()) != 0)
      __builtin_trap();
  }
  return 0;
}
