#pragma once
// Reading the bitsandbytes reference fixtures (tests/quant/fixtures/bnb, made by
// tools/make-bnb-fixtures.py): a minimal safetensors reader for the test, and the fixture's
// deterministic input stream.
#include "quantlab/core/half.hpp"
#include "quantlab/quant/bnb_serialize.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace quantlab::test {

inline std::filesystem::path bnb_fixture_dir() { return std::filesystem::path(QUANTLAB_SOURCE_DIR) / "tests/quant/fixtures/bnb"; }

struct SafetensorsFile {
  std::map<std::string, bnb::NamedTensor> tensors;
  nlohmann::json metadata;

  const bnb::NamedTensor& at(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw std::runtime_error("fixture tensor missing: " + name);
    return it->second;
  }
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  template <typename T>
  std::vector<T> values(const std::string& name) const {
    const auto& t = at(name);
    std::vector<T> v(t.bytes.size() / sizeof(T));
    if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), v.size() * sizeof(T));
    return v;
  }
  // F32, F16 or BF16 tensors as floats.
  std::vector<float> floats(const std::string& name) const {
    const auto& t = at(name);
    if (t.dtype == "F32") return values<float>(name);
    std::vector<float> out;
    for (uint16_t h : values<uint16_t>(name)) out.push_back(t.dtype == "F16" ? fp16_to_f32(h) : bf16_to_f32(h));
    return out;
  }
  bnb::TensorLookup lookup() const {
    return [this](const std::string& n) -> const bnb::NamedTensor* {
      auto it = tensors.find(n);
      return it == tensors.end() ? nullptr : &it->second;
    };
  }
};

inline SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path.string());
  uint64_t header_len = 0;
  f.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(header_len, '\0');
  f.read(header.data(), std::streamsize(header_len));
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  SafetensorsFile out;
  const nlohmann::json parsed = nlohmann::json::parse(header);
  for (auto it = parsed.begin(); it != parsed.end(); ++it) {
    const std::string name = it.key();
    const nlohmann::json& info = it.value();
    if (name == "__metadata__") {
      out.metadata = info;
      continue;
    }
    bnb::NamedTensor t;
    t.name = name;
    t.dtype = info.at("dtype").get<std::string>();
    t.shape = info.at("shape").get<std::vector<int64_t>>();
    const auto offsets = info.at("data_offsets").get<std::vector<size_t>>();
    t.bytes.assign(data.begin() + std::ptrdiff_t(offsets[0]), data.begin() + std::ptrdiff_t(offsets[1]));
    out.tensors.emplace(name, std::move(t));
  }
  return out;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(f);
}

// The fixture generator's input stream: splitmix64 words, each turned into an Irwin-Hall(4) sum of
// 16-bit uniforms scaled by 2^-21 (std ~0.018); every 97th value times 8. Integer arithmetic and
// power-of-two scaling only, so Python and C++ agree bit for bit.
inline std::vector<float> fixture_normals(uint64_t seed, size_t n) {
  std::vector<float> out(n);
  uint64_t state = seed;
  for (size_t i = 0; i < n; ++i) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const int64_t s = int64_t(z & 0xFFFF) + int64_t((z >> 16) & 0xFFFF) + int64_t((z >> 32) & 0xFFFF) +
                      int64_t((z >> 48) & 0xFFFF) - 2 * 65535;
    float v = float(s) * 0x1p-21f;
    if (i % 97 == 0) v *= 8.0f;
    out[i] = v;
  }
  return out;
}

}  // namespace quantlab::test
