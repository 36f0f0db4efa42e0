#pragma once
// A minimal GGUF v3 writer for tests: enough to turn a checkpoint into llama/qwen2/qwen3/gemma3
// GGUF files (string/u32/f32/bool/bool-array metadata, F32/F16 tensors, 32-byte alignment).
#include "quantlab/core/half.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace quantlab::test {

class TinyGgufWriter {
 public:
  void kv_string(const std::string& k, const std::string& v) { key(k, 8); str(meta_, v); ++n_kv_; }
  void kv_u32(const std::string& k, uint32_t v) { key(k, 4); put(meta_, v); ++n_kv_; }
  void kv_f32(const std::string& k, float v) { key(k, 6); put(meta_, v); ++n_kv_; }
  void kv_bool(const std::string& k, bool v) { key(k, 7); put(meta_, uint8_t(v)); ++n_kv_; }
  void kv_bool_array(const std::string& k, const std::vector<bool>& v) {
    key(k, 9);
    put(meta_, uint32_t(7));
    put(meta_, uint64_t(v.size()));
    for (bool b : v) put(meta_, uint8_t(b));
    ++n_kv_;
  }

  // `values` row-major [ne1][ne0]; stored as F32 (type 0) or F16 (type 1).
  void tensor(const std::string& name, const std::vector<int64_t>& ne, const std::vector<float>& values, bool f16 = false) {
    while (data_.size() % 32) data_.push_back(0);
    str(infos_, name);
    put(infos_, uint32_t(ne.size()));
    for (int64_t d : ne) put(infos_, uint64_t(d));
    put(infos_, uint32_t(f16 ? 1 : 0));
    put(infos_, uint64_t(data_.size()));
    for (float v : values) {
      if (f16) put(data_, f32_to_fp16(v));
      else put(data_, v);
    }
    ++n_tensors_;
  }

  void write(const std::string& path) const {
    std::vector<uint8_t> out;
    put(out, uint32_t(0x46554747));
    put(out, uint32_t(3));
    put(out, n_tensors_);
    put(out, n_kv_);
    out.insert(out.end(), meta_.begin(), meta_.end());
    out.insert(out.end(), infos_.begin(), infos_.end());
    while (out.size() % 32) out.push_back(0);
    out.insert(out.end(), data_.begin(), data_.end());
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
  }

 private:
  template <typename T>
  static void put(std::vector<uint8_t>& b, T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  static void str(std::vector<uint8_t>& b, const std::string& s) {
    put(b, uint64_t(s.size()));
    b.insert(b.end(), s.begin(), s.end());
  }
  void key(const std::string& k, uint32_t type) {
    str(meta_, k);
    put(meta_, type);
  }
  std::vector<uint8_t> meta_, infos_, data_;
  uint64_t n_kv_ = 0, n_tensors_ = 0;
};

}  // namespace quantlab::test
