#pragma once
// A byte tokenizer for packing and diagnostics tests: one id per UTF-8 byte, and, when special
// tokens are parsed, 256 for "<s>", 257 for "</s>" and 258 for "<|im_end|>". Packing is defined
// over any tokenizer, and this one makes every expected sequence writable by hand.
#include "quantlab/calib/packing.hpp"

namespace quantlab::calib::test_tokenizer {

constexpr int32_t kBos = 256, kEos = 257, kImEnd = 258;

inline TokenizerFn byte_tokenizer() {
  TokenizerFn t;
  t.bos_id = kBos;
  t.eos_id = kEos;
  t.encode = [](std::string_view s, bool add_special, bool parse_special) {
    std::vector<int32_t> ids;
    if (add_special) ids.push_back(kBos);
    for (size_t i = 0; i < s.size();) {
      if (parse_special && s.substr(i, 3) == "<s>") ids.push_back(kBos), i += 3;
      else if (parse_special && s.substr(i, 4) == "</s>") ids.push_back(kEos), i += 4;
      else if (parse_special && s.substr(i, 10) == "<|im_end|>") ids.push_back(kImEnd), i += 10;
      else ids.push_back(static_cast<unsigned char>(s[i++]));
    }
    return ids;
  };
  return t;
}

}  // namespace quantlab::calib::test_tokenizer
