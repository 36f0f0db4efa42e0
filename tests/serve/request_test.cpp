// What parse_completion_request accepts and refuses (the 400s of quantlab serve), without a model.
#include "quantlab/serve/prompt.hpp"
#include "quantlab/serve/request.hpp"

#include <gtest/gtest.h>

namespace quantlab::serve {
namespace {

// The refusal's param, or "accepted".
std::string refusal(const std::string& body, Endpoint e = Endpoint::Completion) {
  try {
    parse_completion_request(body, e);
    return "accepted";
  } catch (const RequestError& err) {
    EXPECT_EQ(err.status(), 400) << body;
    EXPECT_EQ(err.type(), "invalid_request_error");
    return err.param().empty() ? "(body)" : err.param();
  }
}

TEST(ServeRequest, MalformedBodiesAreRefusedNamingNothingOrTheField) {
  for (const char* body : {"", "{", "{\"prompt\": \"x\"", "nul", "\xff\xfe", "{\"prompt\": \"\\ud800\"}x"})
    EXPECT_EQ(refusal(body), "(body)") << body;
  for (const char* body : {"[]", "\"text\"", "42", "null"}) EXPECT_EQ(refusal(body), "(body)") << body;
}

TEST(ServeRequest, WrongTypesAndValuesNameTheirField) {
  EXPECT_EQ(refusal(R"({"prompt": 5})"), "prompt");
  EXPECT_EQ(refusal(R"({"prompt": [1, 2, 3]})"), "prompt");  // token-id prompts
  EXPECT_EQ(refusal(R"({"prompt": ["a", "b"]})"), "prompt");
  EXPECT_EQ(refusal(R"({})"), "prompt");
  EXPECT_EQ(refusal(R"({"prompt": "x", "max_tokens": "5"})"), "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "x", "max_tokens": 0})"), "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "x", "max_tokens": 2.5})"), "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "x", "max_tokens": 1e300})"), "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "x", "max_tokens": 18446744073709551615})"), "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "x", "temperature": -0.1})"), "temperature");
  EXPECT_EQ(refusal(R"({"prompt": "x", "temperature": "hot"})"), "temperature");
  EXPECT_EQ(refusal(R"({"prompt": "x", "top_p": 0})"), "top_p");
  EXPECT_EQ(refusal(R"({"prompt": "x", "top_p": 1.5})"), "top_p");
  EXPECT_EQ(refusal(R"({"prompt": "x", "top_k": 1.5})"), "top_k");
  EXPECT_EQ(refusal(R"({"prompt": "x", "seed": "7"})"), "seed");
  EXPECT_EQ(refusal(R"({"prompt": "x", "stream": 1})"), "stream");
  EXPECT_EQ(refusal(R"({"prompt": "x", "stop": 3})"), "stop");
  EXPECT_EQ(refusal(R"({"prompt": "x", "stop": ["a", 3]})"), "stop[1]");
  EXPECT_EQ(refusal(R"({"prompt": "x", "stop": ""})"), "stop");
  EXPECT_EQ(refusal(R"({"prompt": "x", "model": 3})"), "model");
  EXPECT_EQ(refusal(R"({"prompt": "x", "stream_options": {"include_usage": true}})"), "stream_options");
  EXPECT_EQ(refusal(R"({"messages": "hi"})", Endpoint::Chat), "messages");
  EXPECT_EQ(refusal(R"({"messages": []})", Endpoint::Chat), "messages");
  EXPECT_EQ(refusal(R"({"messages": [3]})", Endpoint::Chat), "messages[0]");
  EXPECT_EQ(refusal(R"({"messages": [{"content": "hi"}]})", Endpoint::Chat), "messages[0].role");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "wizard", "content": "hi"}]})", Endpoint::Chat), "messages[0].role");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user"}]})", Endpoint::Chat), "messages[0].content");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user", "content": 7}]})", Endpoint::Chat), "messages[0].content");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})", Endpoint::Chat),
            "messages[0].content[0].type");
}

TEST(ServeRequest, UnsupportedOptionsAreRefusedUnlessNeutral) {
  EXPECT_EQ(refusal(R"({"prompt": "x", "n": 2})"), "n");
  EXPECT_EQ(refusal(R"({"prompt": "x", "n": 1})"), "accepted");
  EXPECT_EQ(refusal(R"({"prompt": "x", "logprobs": 5})"), "logprobs");
  EXPECT_EQ(refusal(R"({"prompt": "x", "logprobs": 0})"), "accepted");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})", Endpoint::Chat), "logprobs");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": false})", Endpoint::Chat), "accepted");
  EXPECT_EQ(refusal(R"({"prompt": "x", "presence_penalty": 0.5})"), "presence_penalty");
  EXPECT_EQ(refusal(R"({"prompt": "x", "presence_penalty": 0, "frequency_penalty": 0})"), "accepted");
  EXPECT_EQ(refusal(R"({"prompt": "x", "logit_bias": {"50256": -100}})"), "logit_bias");
  EXPECT_EQ(refusal(R"({"prompt": "x", "echo": true})"), "echo");
  EXPECT_EQ(refusal(R"({"prompt": "x", "best_of": 3})"), "best_of");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", Endpoint::Chat), "tools");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})", Endpoint::Chat),
            "response_format");
}

TEST(ServeRequest, UnknownFieldsAreIgnoredAndDefaultsAreOpenAIs) {
  const CompletionRequest r = parse_completion_request(R"({"prompt": "x", "user": "me", "whatever": {"a": [1]}})", Endpoint::Completion);
  EXPECT_EQ(r.prompt, "x");
  EXPECT_EQ(r.max_tokens, 16);  // OpenAI's completions default
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_FALSE(r.seeded);
  EXPECT_FALSE(r.stream);
  const CompletionRequest c = parse_completion_request(
      R"({"messages": [{"role": "developer", "content": "be brief"},
                       {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
          "max_completion_tokens": 7, "temperature": null, "seed": -3, "stop": ["x", "yz"], "stream": true,
          "stream_options": {"include_usage": true}, "top_k": -1})",
      Endpoint::Chat);
  EXPECT_FALSE(c.max_tokens.has_value() && *c.max_tokens != 7);
  EXPECT_EQ(c.max_tokens, 7);
  EXPECT_EQ(c.messages[0]["role"], "system");
  EXPECT_EQ(c.messages[1]["content"], "ab");
  EXPECT_EQ(c.sampling.temperature, 1.0f);  // null = not given
  EXPECT_TRUE(c.seeded);
  EXPECT_EQ(c.sampling.seed, uint64_t(-3));
  EXPECT_EQ(c.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_TRUE(c.stream && c.include_usage);
  EXPECT_EQ(c.sampling.top_k, 0);
  EXPECT_FALSE(parse_completion_request(R"({"messages": [{"role": "user", "content": "x"}]})", Endpoint::Chat).max_tokens);
  EXPECT_EQ(parse_completion_request(R"({"prompt": ["only"]})", Endpoint::Completion).prompt, "only");
}

TEST(ServeRequest, TheReplyBudgetKeepsPromptAndReplyInsideTheContext) {
  CompletionRequest r = parse_completion_request(R"({"prompt": "x", "max_tokens": 10})", Endpoint::Completion);
  EXPECT_EQ(reply_budget(90, r, 100), 10);
  try {
    reply_budget(91, r, 100);
    ADD_FAILURE() << "accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.param(), "max_tokens");
    EXPECT_EQ(e.code(), "context_length_exceeded");
  }
  try {
    reply_budget(100, r, 100);
    ADD_FAILURE() << "accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.param(), "prompt");
    EXPECT_EQ(e.code(), "context_length_exceeded");
  }
  r.max_tokens.reset();
  EXPECT_EQ(reply_budget(60, r, 100), 40);
}

}  // namespace
}  // namespace quantlab::serve
