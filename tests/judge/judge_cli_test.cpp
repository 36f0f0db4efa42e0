// `quantlab eval judge pairwise|score` end to end: replies made by `quantlab eval answers` on the
// bench model (SmolLM2-135M-Instruct, and a link to the same file as the "quantized" model) plus a
// hand-written folder of a model that always says "I don't know.", judged by a real quantlab serve
// of the same model on loopback. The judge's verdicts are whatever the small model answers; what is
// checked is the structure, that every request is stored as it is made, that temperature 0 gives the
// same verdicts again, that --reuse asks nothing it has, that a run cut short finishes each item once,
// and that a failing endpoint costs items, not the run.
#include "../io/io_test_util.hpp"
#include "fault_server.hpp"
#include "test_support.hpp"

#include "quantlab/calib/model_template.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/serve/server.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <set>
#include <thread>

namespace quantlab {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path model_path() { return test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"; }

const char* kPrompts =
    R"({"id": "capital", "messages": [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}], "notes": "Paris, nothing else."})" "\n"
    R"({"id": "colours", "messages": [{"role": "user", "content": "Name three primary colours."}, {"role": "assistant", "content": "Red, yellow and blue."}]})" "\n"
    R"({"id": "sum", "messages": [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "5"}], "notes": "Only 5 is right."})" "\n";

std::vector<json> jsonl(const fs::path& p) {
  std::vector<json> v;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) v.push_back(json::parse(line));
  return v;
}

test::CommandResult ql(const std::string& args) {
  return test::run_command(test::shell_quote(test::cli_path().string()) + " " + args + " </dev/null");
}

std::string q(const fs::path& p) { return test::shell_quote(p.string()); }

// A replies folder by hand, as eval answers writes it: `model` answers every prompt with `text`.
void write_replies(const fs::path& dir, const std::string& model, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream out(dir / "replies.jsonl");
  for (const char* id : {"capital", "colours", "sum"})
    out << json{{"prompt_set", "prompts.jsonl"}, {"model", model}, {"prompt_id", id}, {"seed", "greedy"},
                {"text", text}, {"tokens", 4}, {"finish", "stop"}, {"key", std::string("hand-") + id}}.dump()
        << "\n";
}

class JudgeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(model_path())) return;
    dir_ = new fs::path(test::temp_dir("judge-cli"));
    const fs::path& d = *dir_;
    model_ = new Model(load_model(model_path()));
    tokenizer_ = new Tokenizer(Tokenizer::load(model_path()));
    template_ = new std::optional<text::ChatTemplate>(calib::load_model_chat_template(model_path()));
    serve::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.n_ctx = 2048;
    o.parallel = 2;  // --parallel runs have two requests generating at once
    o.threads_per_slot = 1;
    o.log = [](const std::string& line) {
      if (line.find("/v1/chat/completions") != std::string::npos) ++chat_requests_;
    };
    server_ = new serve::Server(serve::ServedModel{model_, tokenizer_, &**template_, "smol-judge"}, o);
    port_ = server_->bind();
    thread_ = new std::thread([] { server_->run(); });

    test::write_text(d / "prompts.jsonl", kPrompts);
    fs::create_symlink(model_path(), d / "copy.gguf");
    const auto r = ql("eval answers --base " + q(model_path()) + " --model " + q(d / "copy.gguf") + " --data " +
                      q(d / "prompts.jsonl") + " --greedy --max-tokens 16 --hidden-states --bootstrap 10 --threads 2 --out " +
                      q(d / "answers"));
    ASSERT_EQ(r.status, 0) << r.err;
    write_replies(d / "idk", "idk", "I don't know.");
  }
  static void TearDownTestSuite() {
    if (!server_) return;
    server_->stop();
    thread_->join();
    delete thread_;
    delete server_;
    delete template_;
    delete tokenizer_;
    delete model_;
    fs::remove_all(*dir_);
    delete dir_;
    server_ = nullptr;
  }
  void SetUp() override { QUANTLAB_REQUIRE_FILE(model_path()); }

  static std::string endpoint() { return "http://127.0.0.1:" + std::to_string(port_); }
  static fs::path dir() { return *dir_; }
  static fs::path out(const std::string& name) {
    fs::remove_all(*dir_ / name);
    return *dir_ / name;
  }
  // The pairwise run every test starts from: base vs its copy and vs "idk", 3 prompts, both orders.
  static std::string pairwise(const fs::path& o, const std::string& more = "") {
    return "eval judge pairwise --endpoint " + endpoint() + " --replies " + q(dir() / "answers") + " --replies " +
           q(dir() / "idk") + " --base " + q(model_path()) + " --model copy.gguf --model idk --max-tokens 6 --bootstrap 100" +
           " --retry-delay 0.01 --out " + q(o) + " --json " + more;
  }
  // Each judgement's verdict (or error) by key.
  static std::map<std::string, std::string> verdicts(const json& result) {
    std::map<std::string, std::string> v;
    for (const json& row : result["per_item"])
      for (const char* order : {"base_first", "model_first"}) {
        const json& c = row[order];
        v[c["key"]] = c.contains("verdict") ? c["verdict"].get<std::string>() : "error: " + c["error"].get<std::string>();
      }
    return v;
  }

  static fs::path* dir_;
  static Model* model_;
  static Tokenizer* tokenizer_;
  static std::optional<text::ChatTemplate>* template_;
  static serve::Server* server_;
  static std::thread* thread_;
  static int port_;
  static std::atomic<int> chat_requests_;
};
fs::path* JudgeCli::dir_ = nullptr;
Model* JudgeCli::model_ = nullptr;
Tokenizer* JudgeCli::tokenizer_ = nullptr;
std::optional<text::ChatTemplate>* JudgeCli::template_ = nullptr;
serve::Server* JudgeCli::server_ = nullptr;
std::thread* JudgeCli::thread_ = nullptr;
int JudgeCli::port_ = 0;
std::atomic<int> JudgeCli::chat_requests_{0};

TEST_F(JudgeCli, PairwiseAsksBothOrdersStoresEveryRequestAndRepeatsItsVerdicts) {
  const fs::path o1 = out("pairwise-1");
  const int before = chat_requests_;
  const auto r = ql(pairwise(o1));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(chat_requests_ - before, 12) << "2 models x 3 prompts x 2 orders, one request each";
  const json j = json::parse(r.out);
  EXPECT_EQ(j, json::parse(test::read_text(o1 / "result.json")));
  EXPECT_EQ(j["command"], "eval judge pairwise");
  EXPECT_EQ(j["endpoint"]["judge_model"], "smol-judge");
  EXPECT_EQ(j["endpoint"]["models_listed"], json::array({"smol-judge"}));
  EXPECT_EQ(j["base"], model_path().string());
  EXPECT_EQ(j["models"], json::array({(dir() / "copy.gguf").string(), "idk"}));
  ASSERT_EQ(j["replies"].size(), 2u);
  EXPECT_EQ(j["replies"][0]["sha256"], sha256_file((dir() / "answers/replies.jsonl").string()));
  EXPECT_EQ(j["replies"][1]["sha256"], sha256_file((dir() / "idk/replies.jsonl").string()));
  EXPECT_EQ(j["prompt_sets"][0]["label"], "prompts.jsonl");
  EXPECT_EQ(j["prompt_sets"][0]["sha256"], sha256_file((dir() / "prompts.jsonl").string()));
  EXPECT_EQ(j["prompt_template"]["source"], "built-in");
  EXPECT_EQ(j["settings"]["temperature"], 0);
  EXPECT_EQ(j["settings"]["max_tokens"], 6);
  EXPECT_EQ(j["judgements"]["asked"], 12);
  EXPECT_EQ(j["judgements"]["reused"], 0);
  ASSERT_EQ(j["results"].size(), 2u);
  for (const json& m : j["results"]) {
    SCOPED_TRACE(m["model"].dump());
    EXPECT_EQ(m["items"], 3);
    EXPECT_EQ(m["judgements"], 6);
    EXPECT_EQ(m["wins"].get<int>() + m["losses"].get<int>() + m["evens"].get<int>() + m["errors"].get<int>(), 6);
    EXPECT_EQ(m["readable"].get<int>(), 6 - m["errors"].get<int>());
    const json& pos = m["position_bias"];
    EXPECT_EQ(pos["first_slot_wins"].get<int>() + pos["second_slot_wins"].get<int>(), m["wins"].get<int>() + m["losses"].get<int>());
    if (m["readable"].get<int>() > 0) {
      const json& p = m["p_candidate_preferred"];
      EXPECT_LE(p["low"].get<double>(), p["mean"].get<double>());
      EXPECT_GE(p["high"].get<double>(), p["mean"].get<double>());
      EXPECT_NEAR(m["abs_p_minus_half"]["value"].get<double>(), std::abs(p["mean"].get<double>() - 0.5), 1e-12);
    }
    ASSERT_EQ(m["by_prompt_set"].size(), 1u);
    EXPECT_EQ(m["by_prompt_set"][0]["judgements"], 6);
  }
  // Every request and its raw answer, one line each, as eval answers' replies are stored.
  const std::vector<json> lines = jsonl(o1 / "judgements.jsonl");
  ASSERT_EQ(lines.size(), 12u);
  std::set<std::string> keys;
  for (const json& l : lines) {
    keys.insert(l["key"].get<std::string>());
    EXPECT_EQ(l["answered"], true) << l.dump();
    EXPECT_EQ(l["request"]["temperature"], 0);
    EXPECT_EQ(l["request"]["max_tokens"], 6);
    EXPECT_EQ(l["request"]["model"], "smol-judge");
    EXPECT_TRUE(l["reply"]["content"].is_string());
    const std::string user = l["request"]["messages"].back()["content"];
    EXPECT_NE(user.find("# Input\n"), std::string::npos) << user;
    // The order is what the messages show: the base's reply is in slot A exactly when base_first.
    const bool base_first = l["order"] == "base_first";
    EXPECT_EQ(l["answer_a"], base_first ? model_path().string() : l["model"].get<std::string>());
    if (l["model"] == "idk") {
      EXPECT_EQ(user.find("# A\nI don't know.") != std::string::npos, !base_first) << user;
    }
  }
  EXPECT_EQ(keys.size(), 12u);
  EXPECT_EQ(verdicts(j).size(), 12u);

  // Temperature 0: a fresh run gives every judgement again, verdict for verdict, also with three
  // requests in flight at once (the file's lines then come in the order the answers did).
  const fs::path o2 = out("pairwise-2");
  const auto again = ql(pairwise(o2, "--parallel 3"));
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(verdicts(json::parse(again.out)), verdicts(j));
  EXPECT_EQ(json::parse(again.out)["results"], j["results"]);
  EXPECT_EQ(json::parse(again.out)["per_item"], j["per_item"]);
  EXPECT_EQ(jsonl(o2 / "judgements.jsonl").size(), 12u);

  // --reuse: nothing is asked, the same figures come out.
  const int before_reuse = chat_requests_;
  const auto reused = ql(pairwise(o1, "--reuse"));
  ASSERT_EQ(reused.status, 0) << reused.err;
  EXPECT_EQ(chat_requests_, before_reuse);
  const json rj = json::parse(reused.out);
  EXPECT_EQ(rj["judgements"]["asked"], 0);
  EXPECT_EQ(rj["judgements"]["reused"], 12);
  EXPECT_EQ(rj["results"], j["results"]);
  EXPECT_EQ(jsonl(o1 / "judgements.jsonl").size(), 12u) << "nothing appended";

  // The table form names what it did.
  const fs::path o3 = out("pairwise-table");
  fs::create_directories(o3);
  fs::copy_file(o1 / "judgements.jsonl", o3 / "judgements.jsonl");
  std::string args = pairwise(o3, "--reuse");
  args.erase(args.find(" --json"), 7);
  const auto table = ql(args);
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("P(model preferred)"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("0 asked"), std::string::npos) << table.out;
}

TEST_F(JudgeCli, ARunCutShortFinishesEachItemExactlyOnce) {
  const fs::path full = out("cut-full");
  ASSERT_EQ(ql(pairwise(full)).status, 0);
  const std::string bytes = test::read_text(full / "judgements.jsonl");
  // As a kill leaves it: 7 whole lines and part of the 8th.
  size_t at = 0;
  for (int i = 0; i < 7; ++i) at = bytes.find('\n', at) + 1;
  const fs::path cut = out("cut");
  fs::create_directories(cut);
  test::write_text(cut / "judgements.jsonl", bytes.substr(0, at + 40));
  const int before = chat_requests_;
  const auto r = ql(pairwise(cut, "--reuse"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(chat_requests_ - before, 5);
  const json j = json::parse(r.out);
  EXPECT_EQ(j["judgements"]["asked"], 5);
  EXPECT_EQ(j["judgements"]["reused"], 7);
  const std::vector<json> lines = jsonl(cut / "judgements.jsonl");
  ASSERT_EQ(lines.size(), 12u);
  std::set<std::string> keys;
  for (const json& l : lines) keys.insert(l["key"].get<std::string>());
  EXPECT_EQ(keys.size(), 12u) << "each item once";
  EXPECT_EQ(verdicts(j), verdicts(json::parse(test::read_text(full / "result.json"))));
}

TEST_F(JudgeCli, ScoreGradesEveryReplyWithItsReferenceAndNotes) {
  const fs::path o = out("score");
  const int before = chat_requests_;
  const auto r = ql("eval judge score --endpoint " + endpoint() + "/v1 --replies " + q(dir() / "answers") + " --replies " +
                    q(dir() / "idk") + " --base " + q(model_path()) + " --model idk --notes-field notes --max-tokens 4" +
                    " --bootstrap 100 --out " + q(o) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(chat_requests_ - before, 6);
  const json j = json::parse(r.out);
  EXPECT_EQ(j["command"], "eval judge score");
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["role"], "base");
  EXPECT_FALSE(j["results"][0].contains("minus_base"));
  EXPECT_TRUE(j["results"][1].contains("minus_base"));
  for (const json& m : j["results"]) {
    EXPECT_EQ(m["judgements"], 3);
    int hist = 0;
    for (const auto& [score, n] : m["histogram"].items()) {
      EXPECT_GE(std::stoi(score), 1);
      EXPECT_LE(std::stoi(score), 5);
      hist += n.get<int>();
    }
    EXPECT_EQ(hist, m["readable"].get<int>());
  }
  ASSERT_EQ(j["per_reply"].size(), 6u);
  const std::vector<json> lines = jsonl(o / "judgements.jsonl");
  ASSERT_EQ(lines.size(), 6u);
  for (const json& l : lines) {
    const std::string user = l["request"]["messages"].back()["content"];
    if (l["prompt_id"] == "capital") {
      EXPECT_NE(user.find("# Reference answer\nParis.\n"), std::string::npos) << user;
      EXPECT_NE(user.find("# Grading notes\nParis, nothing else.\n"), std::string::npos) << user;
    }
    if (l["prompt_id"] == "colours") {
      EXPECT_NE(user.find("# Grading notes\n(none given)\n"), std::string::npos) << user;
    }
    if (l["model"] == "idk") {
      EXPECT_NE(user.find("# Answer to grade\nI don't know.\n"), std::string::npos) << user;
    }
  }
}

// quantlab serve refuses logprobs (400): each item fails at once, without retries, and says why.
TEST_F(JudgeCli, LogprobsRefusedByTheServerAreImmediatePerItemErrors) {
  const fs::path o = out("logprobs");
  const int before = chat_requests_;
  const auto r = ql("eval judge score --endpoint " + endpoint() + " --replies " + q(dir() / "idk") + " --data " +
                    q(dir() / "prompts.jsonl") + " --model idk --logprobs 2 --max-tokens 2 --bootstrap 10 --out " + q(o) + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(chat_requests_ - before, 3);
  const json j = json::parse(r.out);
  EXPECT_EQ(j["settings"]["top_logprobs"], 2);
  EXPECT_EQ(j["results"][0]["errors"], 3);
  EXPECT_TRUE(j["results"][0]["mean_score"]["mean"].is_null());
  for (const json& l : jsonl(o / "judgements.jsonl")) {
    EXPECT_EQ(l["request"]["logprobs"], true);
    EXPECT_EQ(l["request"]["top_logprobs"], 2);
    EXPECT_EQ(l["answered"], false);
    EXPECT_EQ(l["attempts"], 1);
    EXPECT_EQ(l["status"], 400);
    EXPECT_NE(l["error"].get<std::string>().find("logprobs"), std::string::npos) << l["error"];
  }
}

TEST_F(JudgeCli, AFailingEndpointCostsItemsNotTheRunAndReuseAsksThemAgain) {
  // The endpoint lists its model, then drops every chat request without a reply.
  test::FaultServer faulty([](int, const test::FaultRequest& req) {
    return req.path == "/v1/models" ? test::models_reply("smol-judge") : std::string();
  });
  const fs::path o = out("faulty");
  std::string args = pairwise(o, "--retries 1");
  args.replace(args.find(endpoint()), endpoint().size(), faulty.url());
  const auto r = ql(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(faulty.requests(), 1 + 12 * 2) << "the model list, then every request tried twice";
  const json j = json::parse(r.out);
  EXPECT_EQ(j["judgements"]["failed_requests"], 12);
  for (const json& m : j["results"]) {
    EXPECT_EQ(m["errors"], 6);
    EXPECT_EQ(m["readable"], 0);
    // Nothing readable: no figure rather than a 0 that would read as "never preferred".
    EXPECT_TRUE(m["p_candidate_preferred"]["mean"].is_null()) << m.dump();
    EXPECT_TRUE(m["abs_p_minus_half"]["value"].is_null()) << m.dump();
  }
  for (const json& row : j["per_item"]) EXPECT_TRUE(row["base_first"].contains("error")) << row.dump();
  for (const json& l : jsonl(o / "judgements.jsonl")) {
    EXPECT_EQ(l["answered"], false);
    EXPECT_EQ(l["attempts"], 2);
    EXPECT_FALSE(l["error"].get<std::string>().empty());
  }
  // With a working judge, --reuse asks exactly the failed ones again: they hold no answer.
  const int before = chat_requests_;
  const auto fixed = ql(pairwise(o, "--reuse"));
  ASSERT_EQ(fixed.status, 0) << fixed.err;
  EXPECT_EQ(chat_requests_ - before, 12);
  EXPECT_EQ(jsonl(o / "judgements.jsonl").size(), 24u);
  EXPECT_EQ(json::parse(fixed.out)["judgements"]["failed_requests"], 0);
}

// Bad input needs no model: one line naming the file and field, a non-zero exit, no --out.
TEST(JudgeCliInput, BadInputIsOneLineAndLeavesNoOutput) {
  const fs::path d = test::temp_dir("judge-bad");
  test::write_text(d / "prompts.jsonl", kPrompts);
  write_replies(d / "base", "base", "Paris.");
  write_replies(d / "cand", "cand", "London.");
  test::FaultServer endpoint([](int, const test::FaultRequest& req) {
    return req.path == "/v1/models" ? test::models_reply("j") : test::chat_reply("A");
  });
  const std::string good = "eval judge pairwise --endpoint " + endpoint.url() + " --replies " + q(d / "base") + " --replies " +
                           q(d / "cand") + " --data " + q(d / "prompts.jsonl") + " --base base --model cand --bootstrap 10";
  auto check = [&](const std::string& args, const std::string& names, const std::string& field) {
    SCOPED_TRACE(args);
    const fs::path o = d / "out";
    fs::remove_all(o);
    const auto r = ql(args + " --out " + q(o));
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(names), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(field), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(fs::exists(o)) << "a refused run made --out";
  };
  // The good command works (with this fault server's fixed "A": base in slot A wins, then the candidate).
  {
    const auto r = ql(good + " --json --out " + q(d / "good"));
    ASSERT_EQ(r.status, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["results"][0]["wins"], 3);
    EXPECT_EQ(j["results"][0]["losses"], 3);
    EXPECT_EQ(j["results"][0]["position_bias"]["first_slot_preferred"]["mean"], 1.0);
    EXPECT_EQ(j["results"][0]["abs_p_minus_half"]["value"], 0.0);
  }
  check(good.substr(0, good.find(" --replies")) + " --replies " + q(d / "nowhere") + " --base base --model cand",
        (d / "nowhere").string(), "replies.jsonl");
  check(good + " --model nobody", "--model", "nobody");
  check(good + " --model base", "--model", "is the base");
  std::string no_base = good;
  no_base.erase(no_base.find(" --base base"), 12);
  check(no_base, "--base", "");
  {
    write_replies(d / "damaged", "cand", "x");
    std::ofstream(d / "damaged" / "replies.jsonl", std::ios::app) << R"({"prompt_set": "prompts.jsonl", "model": 3})" << "\n";
    std::string a = good;
    a.replace(a.find(q(d / "cand")), q(d / "cand").size(), q(d / "damaged"));
    check(a, (d / "damaged" / "replies.jsonl").string() + ":4", "model");
  }
  test::write_text(d / "bad.json", R"({"system": "Judge.", "user": "{question} {answer_a} {answer_c}"})");
  check(good + " --prompt-template " + q(d / "bad.json"), (d / "bad.json").string(), "answer_c");
  test::write_text(d / "short.txt", "Which is better, {answer_a} or {answer_b}?");
  check(good + " --prompt-template " + q(d / "short.txt"), (d / "short.txt").string(), "{question}");
  test::write_text(d / "other.jsonl", R"({"id": "capital", "messages": [{"role": "user", "content": "Hi"}]})" "\n");
  check(good.substr(0, good.find(" --data")) + " --data " + q(d / "other.jsonl") + " --base base --model cand",
        (d / "base" / "replies.jsonl").string() + ":1", "prompt_id");
  check(good + " --judge-model gpt-9", "--judge-model", "gpt-9");
  check(good + " --max-tokens 0", "--max-tokens", "");
  {
    int dead = 0;
    {
      test::FaultServer gone([](int, const test::FaultRequest&) { return std::string(); });
      dead = gone.port();
    }
    std::string a = good;
    a.replace(a.find(endpoint.url()), endpoint.url().size(), "http://127.0.0.1:" + std::to_string(dead));
    check(a + " --retries 0", "http://127.0.0.1:" + std::to_string(dead), "/v1/models");
  }
  check("eval judge score --endpoint https://api.openai.com/v1 --replies " + q(d / "base") + " --model base", "--endpoint", "https");
  {
    // --out must not be a replies folder: judge's result.json would replace eval answers' own.
    const auto r = ql(good + " --out " + q(d / "base"));
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("is a --replies folder"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(d / "base" / "judgements.jsonl"));
    EXPECT_FALSE(fs::exists(d / "base" / "result.json"));
  }
  fs::remove_all(d);
}

// A real kill: the judge process gets SIGKILL while its 5th request is being answered. Its first 4
// judgements are on disk, no result.json; a rerun with --reuse asks exactly the other 8, once each.
TEST(JudgeCliInput, AKilledRunRerunWithReuseFinishesEachItemExactlyOnce) {
  const fs::path d = test::temp_dir("judge-kill");
  fs::remove_all(d / "out");
  test::write_text(d / "prompts.jsonl", kPrompts);
  write_replies(d / "base", "base", "Paris.");
  write_replies(d / "cand", "cand", "London.");
  write_replies(d / "cand2", "cand2", "Lyon.");
  std::atomic<pid_t> victim{0};
  std::atomic<int> chats{0};
  test::FaultServer endpoint([&](int, const test::FaultRequest& req) {
    if (req.path == "/v1/models") return test::models_reply("j");
    if (++chats == 5 && victim > 0) ::kill(victim, SIGKILL);
    return test::chat_reply("A");
  });
  const std::string args = "eval judge pairwise --endpoint " + endpoint.url() + " --replies " + q(d / "base") + " --replies " +
                           q(d / "cand") + " --replies " + q(d / "cand2") + " --data " + q(d / "prompts.jsonl") +
                           " --base base --model cand --model cand2 --bootstrap 10 --out " + q(d / "out");
  const std::string cmd = "exec " + test::shell_quote(test::cli_path().string()) + " " + args + " >/dev/null 2>&1 </dev/null";
  const char* argv[] = {"sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  victim = pid;
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  victim = 0;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the run was not killed (status " << status << ")";
  EXPECT_EQ(jsonl(d / "out" / "judgements.jsonl").size(), 4u);
  EXPECT_FALSE(fs::exists(d / "out" / "result.json"));

  const auto r = ql(args + " --reuse --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(chats, 5 + 8) << "the killed request's answer was lost with the process: asked again, nothing else";
  const json j = json::parse(r.out);
  EXPECT_EQ(j["judgements"]["asked"], 8);
  EXPECT_EQ(j["judgements"]["reused"], 4);
  const std::vector<json> lines = jsonl(d / "out" / "judgements.jsonl");
  ASSERT_EQ(lines.size(), 12u);
  std::set<std::string> keys;
  for (const json& l : lines) keys.insert(l["key"].get<std::string>());
  EXPECT_EQ(keys.size(), 12u);
  fs::remove_all(d);
}

}  // namespace
}  // namespace quantlab
