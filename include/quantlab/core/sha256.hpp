#pragma once
// SHA-256 (OpenSSL) for provenance records and asset checks.
#include <cstddef>
#include <cstdint>
#include <string>

namespace quantlab {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();  // finishes the digest

 private:
  void* ctx_;
};

std::string sha256_hex(const void* data, size_t n);
std::string sha256_file(const std::string& path);  // throws Error naming the path

}  // namespace quantlab
