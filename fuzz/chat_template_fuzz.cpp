// Chat templates (the Jinja subset): the template source and a conversation (JSON) from the input,
// split at the first NUL. Whatever parses is rendered with the conversation (or a fixed one when the
// conversation is not JSON) and probed for its end-of-turn text, as calibration and chat eval do.
#include "fuzz_file.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/text/chat_template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const auto parts = fuzz::split_parts(data, size, 2);
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse(parts[1], nullptr, /*allow_exceptions=*/false);
  if (messages.is_discarded())
    messages = nlohmann::ordered_json::array({{{"role", "system"}, {"content", "Be brief."}},
                                              {{"role", "user"}, {"content", "Hello"}},
                                              {{"role", "assistant"}, {"content", "Hi!"}}});
  try {
    const text::ChatTemplate t(std::string(parts[0]), "<fuzz>", {"<s>", "</s>", std::nullopt, std::nullopt});
    for (bool generation_prompt : {false, true}) {
      try {
        (void)t.apply(messages, generation_prompt);
      } catch (const Error&) {
      }
    }
    (void)t.end_of_turn();
  } catch (const Error&) {
  }
  return 0;
}
