#pragma once
// The text layer's Tokenizer seen through calibration's minimal interface (TokenizerFn).
#include "quantlab/calib/packing.hpp"
#include "quantlab/text/tokenizer.hpp"

namespace quantlab::calib {

// `tok` must outlive the returned function.
inline TokenizerFn tokenizer_fn(const Tokenizer& tok) {
  TokenizerFn f;
  f.encode = [&tok](std::string_view text, bool add_special, bool parse_special) {
    return tok.encode(text, add_special, parse_special);
  };
  f.bos_id = tok.bos_id();
  f.eos_id = tok.eos_id();
  f.add_bos = tok.add_bos();
  return f;
}

}  // namespace quantlab::calib
