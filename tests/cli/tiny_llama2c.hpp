#pragma once
// A llama2.c checkpoint and tokenizer.bin small enough to write in every test run (~70 KB): one
// layer, width 32 (so Q4_0/Q8_0 blocks fit every row), 4 heads, trained context 64, a vocabulary
// of the three llama2.c specials, the 256 byte pieces and a few words. Weights are seeded
// pseudo-random values: the model means nothing, but every command runs it end to end.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace quantlab::test {

struct TinyLlama2c {
  std::filesystem::path model, tokenizer;
  static constexpr int32_t kDim = 32, kHidden = 64, kLayers = 1, kHeads = 4, kKvHeads = 4, kSeqLen = 64;
  static std::vector<std::string> pieces() {
    std::vector<std::string> p = {"<unk>", "\n<s>\n", "\n</s>\n"};  // as llama2.c's export stores them
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      p.push_back(buf);
    }
    for (const char* w : {"\xE2\x96\x81", "\xE2\x96\x81" "a", "\xE2\x96\x81" "the", "ab", "ba"}) p.push_back(w);
    return p;
  }
};

// `ffn_scale` multiplies the FFN's gate and up weights (w1, w3): 1e20 makes the FFN's hidden state
// overflow to infinity, a model that a quantizer must refuse with a clear message.
inline TinyLlama2c write_tiny_llama2c(const std::filesystem::path& dir, float ffn_scale = 1.0f) {
  using T = TinyLlama2c;
  const std::vector<std::string> pieces = T::pieces();
  const int32_t vocab = int32_t(pieces.size());
  TinyLlama2c t{dir / "tiny.bin", dir / "tok.bin"};
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> w(-0.2f, 0.2f);
  std::vector<float> f;
  auto weights = [&](size_t n) {
    for (size_t i = 0; i < n; ++i) f.push_back(w(rng));
  };
  auto ones = [&](size_t n) { f.insert(f.end(), n, 1.0f); };
  const size_t D = T::kDim, H = T::kHidden, L = T::kLayers, hs = T::kDim / T::kHeads, kv = hs * T::kKvHeads;
  weights(size_t(vocab) * D);                 // token embedding (shared classifier)
  ones(L * D);                                // rms_att
  weights(L * D * D), weights(L * kv * D), weights(L * kv * D), weights(L * D * D);  // wq wk wv wo
  ones(L * D);                                // rms_ffn
  auto scaled = [&](size_t n) {
    for (size_t i = 0; i < n; ++i) f.push_back(w(rng) * ffn_scale);
  };
  scaled(L * H * D), weights(L * D * H), scaled(L * H * D);  // w1 w2 w3
  ones(D);                                    // rms_final
  for (int part = 0; part < 2; ++part)        // freq_cis real, imag (as llama2.c's export writes them)
    for (int32_t p = 0; p < T::kSeqLen; ++p)
      for (size_t i = 0; i < hs / 2; ++i) {
        const double freq = 1.0 / std::pow(10000.0, double(2 * i) / double(hs));
        f.push_back(float(part == 0 ? std::cos(p * freq) : std::sin(p * freq)));
      }
  {
    std::ofstream out(t.model, std::ios::binary);
    const int32_t header[7] = {T::kDim, T::kHidden, T::kLayers, T::kHeads, T::kKvHeads, vocab, T::kSeqLen};
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    out.write(reinterpret_cast<const char*>(f.data()), std::streamsize(f.size() * sizeof(float)));
  }
  {
    std::ofstream out(t.tokenizer, std::ios::binary);
    int32_t max_len = 0;
    for (const auto& p : pieces) max_len = std::max(max_len, int32_t(p.size()));
    out.write(reinterpret_cast<const char*>(&max_len), 4);
    for (size_t i = 0; i < pieces.size(); ++i) {
      const float score = i >= 259 ? -float(i - 258) : 0.0f;
      const int32_t len = int32_t(pieces[i].size());
      out.write(reinterpret_cast<const char*>(&score), 4);
      out.write(reinterpret_cast<const char*>(&len), 4);
      out.write(pieces[i].data(), len);
    }
  }
  return t;
}

}  // namespace quantlab::test
