// The guarded JSON parser used for config.json, tokenizer.json, tokenizer_config.json and
// safetensors headers, followed by the typed accessors model loaders use on what it returns.
#include "quantlab/core/error.hpp"
#include "quantlab/io/json.hpp"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  try {
    const auto j = parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "<fuzz>");
    for (const char* key : {"model_type", "hidden_size", "rms_norm_eps", "tie_word_embeddings", "model", "added_tokens"}) {
      try { json_int(j, key, "<fuzz>", 0); } catch (const Error&) {}
      try { json_number(j, key, "<fuzz>", 0.0); } catch (const Error&) {}
      try { json_bool(j, key, "<fuzz>", false); } catch (const Error&) {}
      try { json_string(j, key, "<fuzz>", std::string()); } catch (const Error&) {}
    }
    // What was accepted must serialize (valid UTF-8 all the way through).
    (void)j.dump();
  } catch (const Error&) {
  }
  return 0;
}
