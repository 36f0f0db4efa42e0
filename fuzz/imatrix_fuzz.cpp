// Importance-matrix files in both llama.cpp formats (GGUF, legacy .dat; read_imatrix tells them
// apart by the magic). What is accepted is written back in the GGUF format and read again: the
// writer must refuse with a quantlab::Error or give the same entries, sizes and datasets.
#include "fuzz_file.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/quant/imatrix.hpp"

#include <cmath>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const std::string& path = fuzz::write_input(data, size);
  Imatrix m;
  try {
    m = read_imatrix(path);
  } catch (const Error&) {
    return 0;
  }
  // Importance weights are finite and non-negative; an entry that saw no tokens has none.
  for (const auto& [name, e] : m.entries) {
    const auto w = m.importance(name);
    if (w.size() != (e.count > 0 ? e.sum_x2.size() : 0)) __builtin_trap();
    for (float x : w)
      if (!std::isfinite(x) || x < 0) __builtin_trap();
  }
  const std::string again = fuzz::input_path() + ".again.gguf";
  try {
    write_imatrix_gguf(m, again);
  } catch (const Error&) {
    return 0;
  }
  const Imatrix r = read_imatrix(again);  // must not throw: the writer wrote it
  if (r.entries.size() != m.entries.size() || r.datasets != m.datasets) __builtin_trap();
  for (auto a = m.entries.cbegin(), b = r.entries.cbegin(); a != m.entries.cend(); ++a, ++b)
    if (a->first != b->first || a->second.sum_x2.size() != b->second.sum_x2.size()) __builtin_trap();
  return 0;
}
