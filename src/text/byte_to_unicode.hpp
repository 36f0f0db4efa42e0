#pragma once
// GPT-2's reversible byte <-> code point map: printable Latin-1 bytes stand for themselves, the
// others (controls, space, 0x7F-0xA0, 0xAD) are moved to U+0100 onwards, so that every byte string
// becomes a string of visible characters the BPE merges can work on.
#include <cstdint>
#include <string>
#include <string_view>

namespace quantlab::text_detail {

// UTF-8 text of the code point standing for byte b.
const std::string& byte_to_unicode(uint8_t b);
// The byte a code point stands for, or -1 when it is not in the map.
int unicode_to_byte(uint32_t cp);
// Maps every byte of raw through the table.
std::string bytes_to_unicode_text(std::string_view raw);

}  // namespace quantlab::text_detail
