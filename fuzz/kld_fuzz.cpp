// llama.cpp's base-logits file (`eval kld --base F`): header, tokens and compressed log-probs.
// Accepted files have every chunk readable, and their log-probs go through the KLD statistics the
// way `eval kld` uses them (against flat test logits), which must not fail on hostile scales.
#include "fuzz_file.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/eval/kld.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const std::string& path = fuzz::write_input(data, size);
  try {
    const BaseLogitsFile f(path);
    if (f.tokens().size() != size_t(f.n_ctx()) * size_t(f.n_chunk())) __builtin_trap();
    const int64_t words = compressed_logprob_words(f.n_vocab());
    const std::vector<float> logits(size_t(f.n_vocab()), 0.0f);
    KldAccumulator acc;
    for (int32_t c = 0; c < f.n_chunk() && c < 16; ++c) {
      const auto w = f.chunk(c);
      if (w.size() % size_t(words) != 0) __builtin_trap();
      const size_t first = f.n_ctx() / 2;
      for (size_t i = 0; i < w.size() / size_t(words) && i < 4; ++i)
        acc.add(logits.data(), w.data() + i * size_t(words), f.n_vocab(), f.tokens()[size_t(c) * f.n_ctx() + first + i + 1]);
    }
    if (acc.count() > 0) (void)acc.summary();
  } catch (const Error&) {
  }
  return 0;
}
