// The judge's HTTP client against a fault injector (fault_server.hpp): what it retries, how often,
// and that every failure comes back as a result, never an exception or a hang.
#include "fault_server.hpp"
#include "test_support.hpp"

#include "quantlab/eval/chat_client.hpp"

#include <chrono>

namespace quantlab {
namespace {

using test::FaultRequest;
using test::FaultServer;

ChatClientOptions fast(int retries = 2, double timeout_s = 5) {
  ChatClientOptions o;
  o.retries = retries;
  o.timeout_s = timeout_s;
  o.backoff_s = 0.01;
  o.backoff_max_s = 0.05;
  return o;
}

ChatRequest question() {
  ChatRequest r;
  r.model = "judge";
  r.messages = {{{"role", "user"}, {"content", "A or B?"}}};
  r.max_tokens = 4;
  return r;
}

ChatClient client(const FaultServer& s, ChatClientOptions o) { return ChatClient(HttpEndpoint::parse(s.url(), "--endpoint"), o); }

TEST(ChatClient, SendsTheOpenAIRequestAndReadsTheAnswer) {
  FaultServer s([](int, const FaultRequest&) { return test::chat_reply("  Even "); });
  ChatRequest q = question();
  q.top_logprobs = 3;
  const ChatResult r = client(s, fast()).chat(q);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "  Even ");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.model, "fault");
  EXPECT_EQ(r.attempts, 1);
  ASSERT_EQ(s.requests(), 1);
  const FaultRequest seen = s.seen()[0];
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/v1/chat/completions");
  const nlohmann::json body = nlohmann::json::parse(seen.body);
  EXPECT_EQ(body["model"], "judge");
  EXPECT_EQ(body["temperature"], 0);
  EXPECT_EQ(body["max_tokens"], 4);
  EXPECT_EQ(body["messages"][0]["content"], "A or B?");
  EXPECT_EQ(body["logprobs"], true);
  EXPECT_EQ(body["top_logprobs"], 3);
}

TEST(ChatClient, LogprobsOfTheReplyAreKeptAsSent) {
  const std::string lp = R"({"content": [{"token": "A", "logprob": -0.1, "top_logprobs": [{"token": "A", "logprob": -0.1}, {"token": "B", "logprob": -2.4}]}]})";
  FaultServer s([&](int, const FaultRequest&) {
    return test::http_reply(200, R"({"choices": [{"message": {"role": "assistant", "content": "A"}, "finish_reason": "length", "logprobs": )" + lp + "}]}");
  });
  const ChatResult r = client(s, fast()).chat(question());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.logprobs, nlohmann::json::parse(lp));
  const nlohmann::json body = nlohmann::json::parse(s.seen()[0].body);
  EXPECT_FALSE(body.contains("logprobs")) << "not asked unless top_logprobs > 0";
}

TEST(ChatClient, MalformedJsonIsRetriedThenAPerItemError) {
  FaultServer s([](int, const FaultRequest&) { return test::http_reply(200, "{\"choices\": [tru"); });
  const ChatResult r = client(s, fast(2)).chat(question());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(s.requests(), 3);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.error.find("not JSON"), std::string::npos) << r.error;
  EXPECT_EQ(r.body, "{\"choices\": [tru");
  EXPECT_TRUE(r.content.empty());
}

TEST(ChatClient, AReplyWithoutContentIsAnErrorToo) {
  FaultServer s([](int, const FaultRequest&) { return test::http_reply(200, R"({"choices": []})"); });
  const ChatResult r = client(s, fast(1)).chat(question());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_NE(r.error.find("choices[0].message.content"), std::string::npos) << r.error;
}

TEST(ChatClient, AClosedConnectionIsRetriedThenAPerItemError) {
  FaultServer s([](int, const FaultRequest&) { return std::string(); });
  const ChatResult r = client(s, fast(3)).chat(question());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 4);
  EXPECT_EQ(s.requests(), 4);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST(ChatClient, AReplyLaterThanTheTimeoutIsRetriedThenAPerItemError) {
  FaultServer s([](int, const FaultRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return test::chat_reply("A");
  });
  const auto t0 = std::chrono::steady_clock::now();
  const ChatResult r = client(s, fast(1, 0.2)).chat(question());
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.status, 0);
  EXPECT_LT(took, 1.4) << "the client waited for the slow reply instead of timing out";
}

TEST(ChatClient, Http503ThenOkSucceedsOnTheSecondTry) {
  FaultServer s([](int n, const FaultRequest&) {
    return n == 0 ? test::http_reply(503, R"({"error": {"message": "busy", "type": "server_error"}})", "Retry-After: 1\r\n")
                  : test::chat_reply("B");
  });
  int retries_seen = 0;
  ChatClient c = client(s, fast(3));
  c.on_retry = [&](const std::string& error, double pause) {
    ++retries_seen;
    EXPECT_NE(error.find("503"), std::string::npos) << error;
    EXPECT_NE(error.find("busy"), std::string::npos) << error;
    EXPECT_LE(pause, 0.05) << "Retry-After is capped by the longest pause";
  };
  const ChatResult r = c.chat(question());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "B");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(retries_seen, 1);
  EXPECT_EQ(s.requests(), 2);
}

TEST(ChatClient, Http429And500AreRetried) {
  FaultServer s([](int n, const FaultRequest&) {
    return n == 0 ? test::http_reply(429, "{}") : n == 1 ? test::http_reply(500, "oops") : test::chat_reply("A");
  });
  const ChatResult r = client(s, fast(2)).chat(question());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.attempts, 3);
}

TEST(ChatClient, ARefusedRequestIsNotRepeated) {
  FaultServer s([](int, const FaultRequest&) {
    return test::http_reply(400, R"({"error": {"message": "logprobs is not implemented", "type": "invalid_request_error"}})");
  });
  const ChatResult r = client(s, fast(3)).chat(question());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(s.requests(), 1);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.error.find("logprobs is not implemented"), std::string::npos) << r.error;
}

TEST(ChatClient, NoServerIsRetriedThenAPerItemError) {
  int port = 0;
  {
    FaultServer gone([](int, const FaultRequest&) { return std::string(); });
    port = gone.port();
  }
  ChatClient c(HttpEndpoint::parse("http://127.0.0.1:" + std::to_string(port), "--endpoint"), fast(2));
  const ChatResult r = c.chat(question());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_NE(r.error.find("connect"), std::string::npos) << r.error;
}

TEST(ChatClient, ModelsListsIdsOrThrowsNamingTheEndpoint) {
  FaultServer s([](int, const FaultRequest& q) { return q.path == "/v1/models" ? test::models_reply("judge-7b") : std::string(); });
  EXPECT_EQ(client(s, fast()).models(), std::vector<std::string>{"judge-7b"});
  FaultServer bad([](int, const FaultRequest&) { return test::http_reply(200, "[]"); });
  test::expect_typed([&] { client(bad, fast(1)).models(); }, bad.url(), "/v1/models");
  EXPECT_EQ(bad.requests(), 2);
}

TEST(ChatClient, EndpointUrls) {
  HttpEndpoint e = HttpEndpoint::parse("http://localhost:8080/v1/", "--endpoint");
  EXPECT_EQ(e.host, "localhost");
  EXPECT_EQ(e.port, 8080);
  EXPECT_EQ(e.prefix, "");
  e = HttpEndpoint::parse("http://10.0.0.2/proxy/v1", "--endpoint");
  EXPECT_EQ(e.port, 80);
  EXPECT_EQ(e.prefix, "/proxy");
  test::expect_typed([] { HttpEndpoint::parse("https://api.openai.com/v1", "--endpoint"); }, "--endpoint", "https://");
  test::expect_typed([] { HttpEndpoint::parse("localhost:8080", "--endpoint"); }, "--endpoint", "localhost");
  test::expect_typed([] { HttpEndpoint::parse("http://h:80x", "--endpoint"); }, "--endpoint", "h:80x");
  test::expect_typed([] { HttpEndpoint::parse("http://:8080", "--endpoint"); }, "--endpoint", ":8080");
}

}  // namespace
}  // namespace quantlab
