#include "src/text/byte_to_unicode.hpp"

#include "src/text/unicode_props.hpp"

#include <array>

namespace quantlab::text_detail {
namespace {

struct ByteMap {
  std::array<std::string, 256> utf8;
  std::array<uint32_t, 256> cp{};
  ByteMap() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      cp[b] = printable ? b : next++;
      unicode::append_utf8(utf8[b], cp[b]);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return byte_map().utf8[b]; }

int unicode_to_byte(uint32_t cp) {
  if (cp < 256) {
    const bool printable = (cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF);
    return printable ? static_cast<int>(cp) : -1;
  }
  const auto& m = byte_map();
  for (int b = 0; b < 256; ++b)
    if (m.cp[b] == cp) return b;
  return -1;
}

std::string bytes_to_unicode_text(std::string_view raw) {
  const auto& m = byte_map();
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) out += m.utf8[static_cast<uint8_t>(c)];
  return out;
}

}  // namespace quantlab::text_detail
