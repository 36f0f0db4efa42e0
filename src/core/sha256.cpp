#include "quantlab/core/sha256.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/mapped_file.hpp"

#include <algorithm>
#include <openssl/evp.h>

namespace quantlab {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::update(const void* data, size_t n) { EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n); }

std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += digits[md[i] >> 4];
    s += digits[md[i] & 15];
  }
  return s;
}

std::string sha256_hex(const void* data, size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  // Chunk by chunk, each chunk's pages released once hashed: hashing a model file must not make
  // the whole file resident (quantize's peak memory).
  MappedFile f(path);
  constexpr size_t kChunk = size_t(8) << 20;
  Sha256 h;
  for (size_t at = 0; at < f.size(); at += kChunk) {
    const size_t n = std::min(kChunk, f.size() - at);
    h.update(f.data() + at, n);
    release_mapped_pages(f.data() + at, n);
  }
  return h.hex();
}

}  // namespace quantlab
