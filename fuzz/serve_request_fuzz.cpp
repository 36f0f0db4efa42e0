// quantlab serve's request parser: endpoint byte, then an HTTP request body from the network.
// Only RequestError may leave it; what it accepts must have a consistent reply budget and messages
// that serialize (valid UTF-8, strings only), as the chat template will read them.
#include "quantlab/serve/prompt.hpp"
#include "quantlab/serve/request.hpp"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab::serve;
  if (size == 0) return 0;
  const Endpoint endpoint = data[0] & 1 ? Endpoint::Chat : Endpoint::Completion;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const CompletionRequest r = parse_completion_request(body, endpoint);
    if (r.max_tokens && *r.max_tokens < 1) std::abort();
    if (r.sampling.temperature < 0 || r.sampling.top_p <= 0 || r.sampling.top_p > 1 || r.sampling.top_k < 0) std::abort();
    for (const std::string& s : r.stop)
      if (s.empty()) std::abort();
    if (endpoint == Endpoint::Chat) {
      for (const auto& m : r.messages)
        if (!m["role"].is_string() || !m["content"].is_string()) std::abort();
      (void)r.messages.dump();
    }
    for (int64_t n_prompt : {int64_t(1), int64_t(100), int64_t(4095)}) {
      try {
        const int64_t budget = reply_budget(n_prompt, r, 4096);
        if (budget < 1 || n_prompt + budget > 4096) std::abort();
      } catch (const RequestError&) {
      }
    }
  } catch (const RequestError& e) {
    if (e.status() != 400) std::abort();
  }
  return 0;
}
