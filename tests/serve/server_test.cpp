// quantlab serve end to end on loopback: a real Server on a free port, the bench model
// (SmolLM2-135M-Instruct Q4_1, the smallest model with a chat template that tools/fetch-assets
// provides everywhere) and a raw-socket client. Replies are checked against greedy decoding written
// here directly over a Session, and against `quantlab generate`.
#include "raw_http.hpp"
#include "test_support.hpp"

#include "quantlab/calib/model_template.hpp"
#include "quantlab/calib/packing.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/sampler.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/serve/server.hpp"
#include "quantlab/serve/slot_pool.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace quantlab::serve {
namespace {

using nlohmann::json;
using test::HttpReply;

std::filesystem::path model_path() {
  return test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(model_path())) return;
    model_ = new Model(load_model(model_path()));
    tokenizer_ = new Tokenizer(Tokenizer::load(model_path()));
    chat_template_ = new std::optional<text::ChatTemplate>(calib::load_model_chat_template(model_path()));
  }
  static void TearDownTestSuite() {
    delete chat_template_;
    delete tokenizer_;
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override { QUANTLAB_REQUIRE_FILE(model_path()); }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // Starts a server; returns its port.
  int start(ServerOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    if (o.n_ctx == 0) o.n_ctx = 256;
    server_ = std::make_unique<Server>(ServedModel{model_, tokenizer_, &**chat_template_, "smol"}, o);
    const int port = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    return port;
  }

  // Greedy decoding over a Session of its own, stopping at an end-of-generation token (left out).
  static std::pair<std::string, size_t> greedy(const std::vector<int32_t>& prompt, int64_t max_tokens) {
    ThreadPool pool(1);
    Session s(*model_, pool, 256);
    std::span<const float> logits = s.forward_last(prompt);
    std::vector<int32_t> reply;
    size_t sampled = 0;
    for (int64_t i = 0; i < max_tokens; ++i) {
      const int32_t t = argmax(logits);
      ++sampled;
      if (tokenizer_->is_end_of_generation(t)) break;
      reply.push_back(t);
      const int32_t one[1] = {t};
      logits = s.forward_last(one);
    }
    return {tokenizer_->decode(reply), sampled};
  }
  static std::vector<int32_t> chat_prompt(const json& messages) {
    const std::string text = (*chat_template_)->apply(nlohmann::ordered_json::parse(messages.dump()), true);
    return calib::tokenize_sample(text, true, calib::tokenizer_fn(*tokenizer_));
  }

  // The text of a streamed reply (its deltas joined), its finish reason and whether [DONE] came.
  static std::string streamed_text(const HttpReply& r, std::string& finish, bool& done, json* usage = nullptr) {
    std::string text;
    for (const json& e : test::sse_events(r.body, done)) {
      if (e.contains("usage") && usage) *usage = e["usage"];
      if (e["choices"].empty()) continue;
      const json& c = e["choices"][0];
      if (c.contains("delta") && c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
      if (c.contains("text")) text += c["text"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    }
    return text;
  }

  static Model* model_;
  static Tokenizer* tokenizer_;
  static std::optional<text::ChatTemplate>* chat_template_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};
Model* ServeTest::model_ = nullptr;
Tokenizer* ServeTest::tokenizer_ = nullptr;
std::optional<text::ChatTemplate>* ServeTest::chat_template_ = nullptr;

bool is_openai_error(const HttpReply& r) {
  const json j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"]["message"].is_string() && j["error"].contains("type");
}

TEST_F(ServeTest, GreedyChatReplyIsTheLibrarysGreedyGeneration) {
  const int port = start();
  const json messages = json::array({{{"role", "system"}, {"content", "You are brief."}},
                                     {{"role", "user"}, {"content", "What is the capital of France?"}}});
  const HttpReply r = test::post(port, "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 24}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  const auto prompt = chat_prompt(messages);
  const auto [text, sampled] = greedy(prompt, 24);
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(j["choices"][0]["message"]["content"], text);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "smol");
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
  EXPECT_EQ(j["usage"]["completion_tokens"], sampled);
  EXPECT_EQ(j["choices"][0]["finish_reason"], sampled < 24 ? "stop" : "length");
}

TEST_F(ServeTest, GreedyCompletionIsQuantlabGeneratesText) {
  const int port = start();
  const std::string prompt = "The capital of France is";
  const HttpReply r = test::post(port, "/v1/completions", {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  const std::string cmd = test::shell_quote_path(test::cli_path().string()) + " generate -m " +
                          test::shell_quote_path(model_path().string()) + " -p " + test::shell_quote_path(prompt) +
                          " -n 12 -t 1 --json 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << cmd;
  const json g = json::parse(out);
  ASSERT_EQ(g["stop"], "length") << "the comparison needs a reply that does not end within 12 tokens";
  EXPECT_EQ(j["choices"][0]["text"], g["text"]);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], g["n_generated"]);
  EXPECT_EQ(j["usage"]["prompt_tokens"], g["n_prompt"]);
}

TEST_F(ServeTest, StreamedChunksConcatenateToTheUnstreamedText) {
  const int port = start();
  for (const std::string path : {"/v1/chat/completions", "/v1/completions"}) {
    for (const json& stop : {json(nullptr), json::array({".", "\n"})}) {
      SCOPED_TRACE(path + " stop " + stop.dump());
      json body = {{"max_tokens", 12}, {"temperature", 0.8}, {"seed", 7}, {"stop", stop}};
      if (path == "/v1/completions") body["prompt"] = "Once upon a time";
      else body["messages"] = json::array({{{"role", "user"}, {"content", "Tell me a story about a cat."}}});
      const HttpReply whole = test::post(port, path, body);
      ASSERT_EQ(whole.status, 200) << whole.body;
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
      const HttpReply streamed = test::post(port, path, body);
      ASSERT_EQ(streamed.status, 200) << streamed.body;
      EXPECT_NE(streamed.headers.find("text/event-stream"), std::string::npos) << streamed.headers;
      std::string finish;
      bool done = false;
      json usage;
      const std::string text = streamed_text(streamed, finish, done, &usage);
      const json w = json::parse(whole.body);
      const json& choice = w["choices"][0];
      EXPECT_EQ(text, path == "/v1/completions" ? choice["text"] : choice["message"]["content"]);
      EXPECT_FALSE(text.empty());
      EXPECT_EQ(finish, choice["finish_reason"]);
      EXPECT_TRUE(done);
      EXPECT_EQ(usage, w["usage"]);
      if (!stop.is_null()) {
        EXPECT_EQ(text.find('.'), std::string::npos) << text;
        EXPECT_EQ(text.find('\n'), std::string::npos) << text;
      }
    }
  }
}

// Byte-level BPE splits Japanese characters over several tokens: a streamed piece must still never
// end inside one (a cut character would reach the client as U+FFFD).
TEST_F(ServeTest, StreamedPiecesNeverSplitACharacter) {
  const int port = start();
  json body = {{"messages", json::array({{{"role", "user"}, {"content", "日本の首都はどこですか？日本語で答えてください。"}}})},
               {"max_tokens", 24}, {"temperature", 0.7}, {"seed", 3}};
  const HttpReply whole = test::post(port, "/v1/chat/completions", body);
  ASSERT_EQ(whole.status, 200) << whole.body;
  body["stream"] = true;
  const HttpReply streamed = test::post(port, "/v1/chat/completions", body);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  bool done = false;
  std::string text;
  for (const json& e : test::sse_events(streamed.body, done)) {
    const json& d = e["choices"][0]["delta"];
    if (!d.contains("content")) continue;
    const std::string piece = d["content"];
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "a piece ended inside a character: " << piece;
    text += piece;
  }
  EXPECT_EQ(text, json::parse(whole.body)["choices"][0]["message"]["content"]);
  EXPECT_GT(text.size(), 10u);
}

TEST_F(ServeTest, AModelWithoutAChatTemplateServesCompletionsOnly) {
  ServerOptions o;
  o.n_ctx = 64;
  server_ = std::make_unique<Server>(ServedModel{model_, tokenizer_, nullptr, "raw"}, o);
  const int port = server_->bind();
  thread_ = std::thread([this] { server_->run(); });
  const HttpReply chat = test::post(port, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(chat.status, 400) << chat.body;
  EXPECT_EQ(json::parse(chat.body)["error"]["param"], "messages");
  EXPECT_EQ(test::post(port, "/v1/completions", {{"prompt", "hi"}, {"max_tokens", 2}}).status, 200);
  EXPECT_EQ(json::parse(test::http(port, "GET", "/v1/models").body)["data"][0]["meta"]["chat_template"], false);
}

TEST_F(ServeTest, TheSameSeedGivesTheSameTextInAnySlot) {
  ServerOptions o;
  o.parallel = 2;
  const int port = start(o);
  const json body = {{"prompt", "My favourite food is"}, {"max_tokens", 16}, {"temperature", 1.0}, {"top_p", 0.95},
                     {"top_k", 40}, {"seed", 1234}};
  HttpReply a, b;
  std::thread ta([&] { a = test::post(port, "/v1/completions", body); });
  std::thread tb([&] { b = test::post(port, "/v1/completions", body); });
  ta.join();
  tb.join();
  const HttpReply c = test::post(port, "/v1/completions", body);
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  ASSERT_EQ(c.status, 200) << c.body;
  const json text = json::parse(a.body)["choices"][0]["text"];
  EXPECT_EQ(json::parse(b.body)["choices"][0]["text"], text);
  EXPECT_EQ(json::parse(c.body)["choices"][0]["text"], text);
  // Sampling with this seed: Sampler over the greedy loop's logits gives the same tokens.
  ThreadPool pool(1);
  Session s(*model_, pool, 256);
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_p = 0.95f;
  sp.top_k = 40;
  sp.seed = 1234;
  Sampler sampler(sp);
  std::vector<int32_t> reply;
  std::span<const float> logits = s.forward_last(tokenizer_->encode("My favourite food is", true, true));
  for (int i = 0; i < 16; ++i) {
    const int32_t t = sampler.sample(logits);
    if (tokenizer_->is_end_of_generation(t)) break;
    reply.push_back(t);
    const int32_t one[1] = {t};
    logits = s.forward_last(one);
  }
  EXPECT_EQ(text, tokenizer_->decode(reply));
}

TEST_F(ServeTest, BadRequestsGetAnHttpErrorWithAnOpenAIErrorBody) {
  ServerOptions o;
  o.max_body_bytes = 4096;
  o.n_ctx = 64;
  const int port = start(o);
  const std::string long_prompt(2000, 'x');
  std::string words;
  for (int i = 0; i < 80; ++i) words += " word";
  struct Case {
    std::string method, path, body;
    int status;
  };
  const std::vector<Case> cases = {
      {"POST", "/v1/completions", "{\"prompt\": ", 400},
      {"POST", "/v1/completions", "[1, 2]", 400},
      {"POST", "/v1/completions", R"({"prompt": {"text": "hi"}})", 400},
      {"POST", "/v1/completions", R"({"prompt": "hi", "max_tokens": "many"})", 400},
      {"POST", "/v1/completions", R"({"prompt": "hi", "n": 3})", 400},
      {"POST", "/v1/chat/completions", R"({"messages": [{"role": "user"}]})", 400},
      {"POST", "/v1/completions", json({{"prompt", words}}).dump(), 400},                      // prompt > context
      {"POST", "/v1/completions", R"({"prompt": "hi", "max_tokens": 100})", 400},              // prompt + max_tokens > context
      {"POST", "/v1/completions", json({{"prompt", long_prompt + long_prompt + long_prompt}}).dump(), 413},
      {"GET", "/v1/nothing", "", 404},
      {"GET", "/v1/completions", "", 404},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path + " " + c.body.substr(0, 80));
    const HttpReply r = test::http(port, c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_TRUE(is_openai_error(r)) << r.body;
  }
  // Broken HTTP: a garbage request line, a body shorter than its Content-Length (the client hangs up).
  {
    test::RawConnection c(port);
    c.send("HELLO THERE\r\n\r\n");
    c.read_until("}");  // the error body (the connection may stay open)
    EXPECT_EQ(test::parse_reply(c.received()).status, 400) << c.received();
  }
  {
    test::RawConnection c(port);
    c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"prompt\": ");
  }
  const HttpReply models = test::http(port, "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "smol");
}

TEST_F(ServeTest, FullQueueAndTimeoutGet503AndADisconnectedStreamFreesItsSlot) {
  ServerOptions o;
  o.parallel = 1;
  o.max_queue = 1;
  o.timeout_s = 1.0;
  o.n_ctx = 512;
  const int port = start(o);
  auto health = [&] { return json::parse(test::http(port, "GET", "/health").body); };
  // A holds the only slot: a long streamed count, read until its first tokens arrive.
  test::RawConnection a(port);
  a.send(test::request_bytes("POST", "/v1/completions",
                             json({{"prompt", "1, 2, 3, 4, 5, 6, 7, 8,"}, {"max_tokens", 400}, {"temperature", 0}, {"stream", true}}).dump()));
  ASSERT_TRUE(a.read_until("\"text\""));
  EXPECT_EQ(health()["slots_busy"], 1);
  // B waits in the queue (which then is full), C is refused at once, B when its timeout passes.
  HttpReply b;
  std::thread tb([&] { b = test::post(port, "/v1/completions", {{"prompt", "hi"}, {"max_tokens", 2}}); });
  for (int i = 0; i < 500 && health()["waiting"] != 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto t0 = std::chrono::steady_clock::now();
  const HttpReply c = test::post(port, "/v1/completions", {{"prompt", "hi"}, {"max_tokens", 2}});
  EXPECT_EQ(c.status, 503) << c.body;
  EXPECT_TRUE(is_openai_error(c));
  EXPECT_EQ(json::parse(c.body)["error"]["code"], "queue_full");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  tb.join();
  EXPECT_EQ(b.status, 503) << b.body;
  EXPECT_EQ(json::parse(b.body)["error"]["code"], "timeout");
  // A hangs up mid-stream: generation stops within a few tokens and the slot is free again.
  a.close();
  json h;
  for (int i = 0; i < 300; ++i) {
    h = health();
    if (h["slots_busy"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(h["slots_busy"], 0) << "the slot was still busy 3 s after its client left";
  const HttpReply d = test::post(port, "/v1/completions", {{"prompt", "hi"}, {"max_tokens", 2}, {"temperature", 0}});
  EXPECT_EQ(d.status, 200) << d.body;
}

// 200 requests at once: valid ones (streamed or not) with distinct prompts whose greedy replies
// are known, malformed ones, and clients that hang up halfway through sending or reading.
TEST_F(ServeTest, TwoHundredConcurrentRequestsAreEachAnsweredWithTheirOwnReply) {
  ServerOptions o;
  o.parallel = 2;
  o.max_queue = 256;
  o.timeout_s = 300;
  const int port = start(o);
  constexpr int kPrompts = 12, kRequests = 200, kMaxTokens = 4;
  std::vector<std::string> prompts, expected;
  // Counting prompts: each one's greedy continuation is its next number, so replies differ and a
  // reply handed to the wrong request cannot go unnoticed.
  for (int i = 0; i < kPrompts; ++i) {
    const int n = 10 + 7 * i;
    prompts.push_back(std::to_string(n) + ", " + std::to_string(n + 1) + ", " + std::to_string(n + 2) + ",");
    expected.push_back(greedy(tokenizer_->encode(prompts.back(), true, true), kMaxTokens).first);
  }
  ASSERT_EQ(std::set<std::string>(expected.begin(), expected.end()).size(), expected.size()) << "replies must differ";
  std::vector<HttpReply> replies(kRequests);
  std::vector<std::string> kind(kRequests);
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int i = 0; i < kRequests; ++i) {
    clients.emplace_back([&, i] {
      const std::string prompt = prompts[size_t(i % kPrompts)];
      json body = {{"prompt", prompt}, {"max_tokens", kMaxTokens}, {"temperature", 0}, {"unknown_field", i}};
      switch (i % 10) {
        case 0:
          kind[size_t(i)] = "malformed";
          replies[size_t(i)] = test::http(port, "POST", "/v1/completions", "{\"prompt\": \"" + prompt);
          return;
        case 1:
          kind[size_t(i)] = "wrong type";
          body["temperature"] = "cold";
          break;
        case 2: {
          kind[size_t(i)] = "hang up while sending";
          test::RawConnection c(port);
          const std::string bytes = test::request_bytes("POST", "/v1/completions", body.dump());
          c.send(bytes.substr(0, bytes.size() / 2));
          return;
        }
        case 3: {
          kind[size_t(i)] = "hang up while reading";
          body["stream"] = true;
          body["max_tokens"] = 64;
          test::RawConnection c(port);
          c.send(test::request_bytes("POST", "/v1/completions", body.dump()));
          c.read_until("data: ");
          return;
        }
        case 4:
        case 5:
          kind[size_t(i)] = "stream";
          body["stream"] = true;
          break;
        default:
          kind[size_t(i)] = "whole";
      }
      replies[size_t(i)] = test::post(port, "/v1/completions", body);
    });
  }
  for (std::thread& t : clients) t.join();
  for (int i = 0; i < kRequests; ++i) {
    const HttpReply& r = replies[size_t(i)];
    const std::string& k = kind[size_t(i)];
    SCOPED_TRACE("request " + std::to_string(i) + " (" + k + ")");
    if (k.rfind("hang up", 0) == 0) continue;
    if (k == "malformed" || k == "wrong type") {
      EXPECT_EQ(r.status, 400) << r.body;
      EXPECT_TRUE(is_openai_error(r)) << r.body;
      continue;
    }
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string& want = expected[size_t(i % kPrompts)];
    if (k == "stream") {
      std::string finish;
      bool done = false;
      EXPECT_EQ(streamed_text(r, finish, done), want);
      EXPECT_TRUE(done);
    } else {
      EXPECT_EQ(json::parse(r.body)["choices"][0]["text"], want);
    }
  }
  // Still up, nothing left busy or waiting.
  EXPECT_EQ(test::http(port, "GET", "/v1/models").status, 200);
  json h;
  for (int i = 0; i < 300; ++i) {
    h = json::parse(test::http(port, "GET", "/health").body);
    if (h["slots_busy"] == 0 && h["waiting"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(h["slots_busy"], 0);
  EXPECT_EQ(h["waiting"], 0);
}

}  // namespace
}  // namespace quantlab::serve

namespace quantlab::serve {
namespace {

// The scheduler alone: first come first served, a bounded queue, and close() waking every waiter.
TEST_F(ServeTest, SlotPoolServesInArrivalOrderBoundsItsQueueAndClosesCleanly) {
  SlotPool pool(*model_, 1, 1, 32, Device{}, 2);
  const auto far = SlotPool::Clock::now() + std::chrono::seconds(60);
  SlotPool::Refusal why;
  std::optional<SlotPool::Lease> held(pool.acquire(far, why));
  ASSERT_TRUE(*held);
  std::vector<int> order;
  std::mutex m;
  auto waiter = [&](int id) {
    SlotPool::Refusal w;
    SlotPool::Lease l = pool.acquire(far, w);
    std::lock_guard<std::mutex> lock(m);
    order.push_back(l ? id : -id);
  };
  std::thread first(waiter, 1);
  while (pool.waiting() < 1) std::this_thread::yield();
  std::thread second(waiter, 2);
  while (pool.waiting() < 2) std::this_thread::yield();
  EXPECT_FALSE(pool.acquire(far, why));
  EXPECT_EQ(why, SlotPool::Refusal::QueueFull);
  held.reset();  // 1, then 2 (after 1 lets go)
  first.join();
  second.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  // A waiter past its deadline, and close() with one waiting.
  held.emplace(pool.acquire(far, why));
  ASSERT_TRUE(*held);
  EXPECT_FALSE(pool.acquire(SlotPool::Clock::now() + std::chrono::milliseconds(20), why));
  EXPECT_EQ(why, SlotPool::Refusal::TimedOut);
  std::thread third(waiter, 3);
  while (pool.waiting() < 1) std::this_thread::yield();
  pool.close();
  third.join();
  EXPECT_EQ(order.back(), -3);
  EXPECT_EQ(pool.waiting(), 0u);
}

}  // namespace
}  // namespace quantlab::serve
