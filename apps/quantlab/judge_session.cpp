#include "judge_session.hpp"
#include "bootstrap_option.hpp"

#include "quantlab/calib/dataset.hpp"
#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/prompt_turns.hpp"
#include "quantlab/io/json.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <thread>

namespace quantlab::cli {

namespace fs = std::filesystem;

std::vector<FlagSpec> judge_flags(bool score) {
  std::vector<FlagSpec> f{
      {"endpoint", Takes::Value, "OpenAI-compatible server, http://host:port (quantlab serve, llama-server, vLLM; no https)"},
      {"judge-model", Takes::Value, "model to ask (one of the endpoint's /v1/models; needed when it lists several)"},
      {"api-key", Takes::Value, "sent as Authorization: Bearer KEY (never stored)"},
      {"replies", Takes::Values, "an eval answers --out folder (its replies.jsonl); repeatable, the last line for a reply wins"},
      {"data", Takes::Values, "the prompt files the replies answered (default: those the folders' result.json names)"},
      {"format", Takes::Value, "shape of --data: auto, alpaca, dolly, messages, sharegpt, mapped"},
      {"field", Takes::Values, "field mapping ROLE=FIELD for --data (prompt, input, response, system, messages)"},
      {"prompt-template", Takes::Value, "judge prompt: a JSON {\"system\", \"user\"} or a text file (the user message) with {placeholders}"},
      {"max-tokens", Takes::Value, "longest judge answer (default 64)"},
      {"parallel", Takes::Value, "requests in flight at once (default 1; match the server's slots, e.g. llama-server -np)"},
      {"logprobs", Takes::Value, "ask for the top N log-probabilities of each answer token and store them (default 0: not asked)"},
      {"timeout", Takes::Value, "seconds to connect, and to wait for each part of a reply (default 120)"},
      {"retries", Takes::Value, "tries again after a connection error, timeout, HTTP 429/5xx or malformed reply (default 3)"},
      {"retry-delay", Takes::Value, "seconds before the first retry, doubled for each further one, at most 30 (default 1)"},
      {"out", Takes::Value, "folder for judgements.jsonl (every request and answer) and result.json"},
      {"reuse", Takes::Nothing, "take the answers already in --out's judgements.jsonl (same judge, prompt, order, settings)"},
      {"json", Takes::Nothing, "print result.json on stdout instead of the table"}};
  for (FlagSpec& b : bootstrap_flags()) f.push_back(std::move(b));
  if (score) {
    f.push_back({"reference-field", Takes::Value, "top-level string field of --data holding the reference answer (default: the assistant turn)"});
    f.push_back({"notes-field", Takes::Value, "top-level string field of --data holding grading notes (ELYZA-tasks-100: eval_aspect)"});
  }
  return f;
}

nlohmann::ordered_json interval_json(const MeanInterval& m) {
  // No prompt with a readable judgement: no figure (a 0 would read as a result).
  if (m.n == 0) return {{"mean", nullptr}, {"low", nullptr}, {"high", nullptr}, {"n", 0}};
  return {{"mean", m.mean}, {"low", m.low}, {"high", m.high}, {"n", m.n}};
}

std::string interval_text(const MeanInterval& m, bool sign) {
  if (m.n == 0) return "-";
  char b[80];
  std::snprintf(b, sizeof b, sign ? "%+.3f [%+.3f,%+.3f]" : "%.3f [%.3f,%.3f]", m.mean, m.low, m.high);
  return b;
}

namespace {

double number_in(const Args& a, const char* flag, double fallback, double lo, double hi) {
  const double v = a.get_double(flag, fallback);
  if (!(v >= lo && v <= hi))
    throw Error(std::string("--") + flag, std::to_string(v), "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

// The conversation a reply answered, as the judge reads it: a lone user turn is its text; anything
// longer is every turn as "role: text".
std::string question_text(const PromptTurns& t) {
  if (t.messages.size() == 1) return t.messages[0].content;
  std::string s;
  for (const calib::ChatMessage& m : t.messages) s += (s.empty() ? "" : "\n\n") + m.role + ": " + m.content;
  return s;
}

}  // namespace

JudgeSession::JudgeSession(const Args& a, const std::string& kind, JudgePrompt default_prompt,
                           const std::set<std::string>& placeholders, const std::set<std::string>& required)
    : kind_(kind) {
  const HttpEndpoint endpoint = HttpEndpoint::parse(a.require("endpoint"), "--endpoint");
  const std::vector<std::string> dirs = a.all("replies");
  if (dirs.empty()) throw Error("--replies", "", "give at least one eval answers --out folder");
  out_dir_ = a.require("out");
  // result.json in an eval answers folder would replace that run's own result.json.
  for (const std::string& d : dirs)
    if (fs::exists(d) && fs::exists(out_dir_) && fs::equivalent(d, out_dir_))
      throw Error("--out", out_dir_, "is a --replies folder; its result.json would be overwritten (give another folder)");
  reuse_ = a.has("reuse");
  json_ = a.has("json");
  max_tokens_ = a.get_int("max-tokens", 64);
  if (max_tokens_ < 1 || max_tokens_ > 65536) throw Error("--max-tokens", std::to_string(max_tokens_), "must be between 1 and 65536");
  const long long lp = a.get_int("logprobs", 0);
  if (lp < 0 || lp > 20) throw Error("--logprobs", std::to_string(lp), "must be between 0 and 20 (OpenAI's limit)");
  top_logprobs_ = int(lp);
  const long long parallel = a.get_int("parallel", 1);
  if (parallel < 1 || parallel > 256) throw Error("--parallel", std::to_string(parallel), "must be between 1 and 256");
  parallel_ = int(parallel);
  ChatClientOptions co;
  co.timeout_s = number_in(a, "timeout", 120, 0.001, 86400);
  const long long retries = a.get_int("retries", 3);
  if (retries < 0 || retries > 100) throw Error("--retries", std::to_string(retries), "must be between 0 and 100");
  co.retries = int(retries);
  co.backoff_s = number_in(a, "retry-delay", 1, 0, 3600);
  co.backoff_max_s = std::max(30.0, co.backoff_s);
  co.api_key = a.get_or("api-key", "");
  boot_ = bootstrap_option(a);

  prompt_ = a.has("prompt-template") ? read_judge_prompt(a.require("prompt-template")) : std::move(default_prompt);
  prompt_.check(placeholders, required);

  replies_ = read_reply_dirs(dirs);

  // The prompt files: --data, else those each folder's result.json names (checked to be unchanged).
  struct Source {
    std::string path, label, sha256;
    calib::DatasetOptions options;
  };
  std::vector<Source> sources;
  calib::DatasetOptions given;
  if (auto f = a.get("format")) given.shape = calib::parse_shape(*f);
  for (const auto& m : a.all("field")) calib::set_mapping_field(given.mapping, m);
  const std::vector<std::string> data = a.all("data");
  if (!data.empty()) {
    for (const std::string& d : data) sources.push_back({d, fs::path(d).filename().string(), "", given});
    // eval answers labels a prompt file by its name, by its path when two share a name.
    for (size_t i = 0; i < sources.size(); ++i)
      for (size_t j = 0; j < sources.size(); ++j)
        if (i != j && fs::path(sources[i].path).filename() == fs::path(sources[j].path).filename()) sources[i].label = sources[i].path;
  } else {
    if (a.has("format") || a.has("field")) throw Error("--format", "", "--format and --field describe --data files; give --data too");
    for (const std::string& dir : dirs) {
      const std::string rp = (fs::path(dir) / "result.json").string();
      // A folder without one (a run that did not finish, replies written elsewhere) names no prompt
      // file; its replies must then be to prompts another folder's result.json names.
      if (!fs::exists(rp)) continue;
      const nlohmann::json r = read_json_file(rp);
      if (!r.contains("prompt_sets") || !r["prompt_sets"].is_array()) throw Error(rp, "prompt_sets", "missing or not an array");
      for (const auto& ps : r["prompt_sets"]) {
        for (const char* k : {"path", "label", "sha256", "format"})
          if (!ps.contains(k) || !ps[k].is_string()) throw Error(rp, std::string("prompt_sets.") + k, "missing or not a string");
        calib::DatasetOptions o;
        const std::string format = ps["format"].get<std::string>();
        if (format == "mapped")
          throw Error(rp, "prompt_sets.format", "mapped by --field, which result.json does not record: give --data and --field");
        o.shape = calib::parse_shape(format);
        bool seen = false;
        for (const Source& s : sources)
          if (s.label == ps["label"].get<std::string>()) {
            if (s.sha256 != ps["sha256"].get<std::string>())
              throw Error(rp, "prompt_sets", "\"" + s.label + "\" names another file than an earlier folder's: give --data");
            seen = true;
          }
        if (!seen) sources.push_back({ps["path"].get<std::string>(), ps["label"].get<std::string>(), ps["sha256"].get<std::string>(), o});
      }
    }
  }
  const std::string ref_field = a.get_or("reference-field", ""), notes_field = a.get_or("notes-field", "");
  for (const Source& s : sources) {
    const calib::Dataset ds = calib::read_dataset(s.path, s.options);
    if (!s.sha256.empty() && ds.sha256 != s.sha256)
      throw Error(s.path, "sha256", "the file changed since eval answers read it (give the original with --data)");
    size_t prompts = 0;
    for (const calib::Sample& sample : ds.samples) {
      if (!sample.is_chat()) continue;
      const std::optional<PromptTurns> turns = until_last_user_turn(sample);
      if (!turns) continue;
      const auto id_field = sample.fields.find("id");
      const std::string id = id_field != sample.fields.end() ? id_field->second : std::to_string(sample.line);
      JudgedPrompt p{question_text(*turns), turns->reference, std::nullopt, sample.where()};
      if (!ref_field.empty()) {
        const auto r = sample.fields.find(ref_field);
        p.reference = r != sample.fields.end() ? std::optional<std::string>(r->second) : std::nullopt;
      }
      if (!notes_field.empty()) {
        const auto r = sample.fields.find(notes_field);
        if (r != sample.fields.end()) p.notes = r->second;
      }
      prompts_.emplace(std::make_pair(s.label, id), std::move(p));
      ++prompts;
    }
    prompt_sets_.push_back({{"label", s.label}, {"path", s.path}, {"sha256", ds.sha256}, {"format", calib::shape_name(ds.shape)},
                            {"prompts", prompts}});
  }

  // Last: the endpoint, after every local mistake has had its chance to be named.
  client_ = std::make_unique<ChatClient>(endpoint, co);
  client_->on_retry = [](const std::string& error, double pause) {
    std::fprintf(stderr, "quantlab eval judge: %s; trying again in %.1f s\n", error.c_str(), pause);
  };
  listed_ = client_->models();
  if (auto m = a.get("judge-model")) {
    if (std::find(listed_.begin(), listed_.end(), *m) == listed_.end()) {
      std::string list;
      for (size_t i = 0; i < listed_.size() && i < 10; ++i) list += (i ? ", " : "") + listed_[i];
      throw Error("--judge-model", *m, "the endpoint does not list it (its /v1/models: " + list + (listed_.size() > 10 ? ", ..." : "") + ")");
    }
    judge_model_ = *m;
  } else {
    if (listed_.size() > 1)
      throw Error("--judge-model", "", "the endpoint lists " + std::to_string(listed_.size()) + " models; name the judge");
    judge_model_ = listed_[0];
  }
  request_model_ = judge_model_;
}

const JudgedPrompt& JudgeSession::prompt_of(const IndexedReply& r) const {
  const auto it = prompts_.find({r.reply.prompt_set, r.reply.prompt_id});
  if (it == prompts_.end())
    throw Error(r.where, "prompt_id", "prompt \"" + r.reply.prompt_id + "\" of \"" + r.reply.prompt_set +
                                          "\" is in none of the prompt files (give the file it came from with --data)");
  return it->second;
}

void JudgeSession::start() {
  fs::create_directories(out_dir_);
  store_ = std::make_unique<JudgementStore>((fs::path(out_dir_) / "judgements.jsonl").string(), reuse_);
}

std::vector<nlohmann::ordered_json> JudgeSession::ask_all(const std::vector<JudgeTask>& tasks, const Reader& read,
                                                         const std::function<void(size_t, size_t)>& progress) {
  std::vector<nlohmann::ordered_json> lines(tasks.size());
  std::atomic<size_t> next{0};
  size_t done = 0;
  std::exception_ptr failure;  // the first error that is not an item's (the store cannot be written)
  auto work = [&]() {
    for (size_t i; (i = next++) < tasks.size();) {
      try {
        lines[i] = ask(tasks[i], read);
      } catch (...) {
        std::lock_guard<std::mutex> l(mutex_);
        if (!failure) failure = std::current_exception();
        next = tasks.size();
        return;
      }
      std::lock_guard<std::mutex> l(mutex_);
      if (progress) progress(++done, tasks.size());
    }
  };
  const size_t n = std::min<size_t>(size_t(parallel_), tasks.size());
  if (n <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (size_t t = 0; t < n; ++t) pool.emplace_back(work);
    for (std::thread& t : pool) t.join();
  }
  if (failure) std::rethrow_exception(failure);
  return lines;
}

nlohmann::ordered_json JudgeSession::ask(const JudgeTask& task, const Reader& read) {
  const nlohmann::ordered_json& meta = task.meta;
  const nlohmann::ordered_json& messages = task.messages;
  ChatRequest req;
  req.model = request_model_;
  req.messages = messages;
  req.max_tokens = max_tokens_;
  req.temperature = 0;
  req.top_logprobs = top_logprobs_;
  // What decides the answer: the judge as the endpoint names it (not the URL: a server moved to another
  // port is the same judge), the messages (prompt, replies) and the request's settings; and the order,
  // which the messages alone do not show when both replies are the same text (each order is its own item).
  const nlohmann::ordered_json decides{{"kind", kind_}, {"judge_model", judge_model_},
                                       {"order", meta.contains("order") ? meta["order"] : nlohmann::ordered_json()},
                                       {"messages", messages},
                                       {"temperature", req.temperature}, {"max_tokens", req.max_tokens},
                                       {"top_logprobs", req.top_logprobs}};
  const std::string d = decides.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string key = sha256_hex(d.data(), d.size());
  // find() reads what was loaded at start and nothing writes it since: safe from every thread.
  if (const nlohmann::json* stored = store_->find(key)) {
    std::lock_guard<std::mutex> l(mutex_);
    ++reused_;
    return nlohmann::ordered_json::parse(stored->dump());
  }
  const auto t0 = std::chrono::steady_clock::now();
  const ChatResult r = client_->chat(req);
  nlohmann::ordered_json line = meta;
  line["key"] = key;
  line["judge_model"] = judge_model_;
  line["request"] = req.body();
  line["answered"] = r.ok;
  line["attempts"] = r.attempts;
  line["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.ok) {
    line["reply"] = {{"content", r.content}, {"finish_reason", r.finish_reason}, {"model", r.model}};
    if (!r.logprobs.is_null()) line["reply"]["logprobs"] = nlohmann::ordered_json::parse(r.logprobs.dump());
    const nlohmann::ordered_json read_fields = read(r.content);
    for (const auto& [k, v] : read_fields.items()) line[k] = v;
  } else {
    line["error"] = r.error;
    line["status"] = r.status;
    line["body"] = r.body.substr(0, 4096);
  }
  std::lock_guard<std::mutex> l(mutex_);
  ++asked_;
  failed_ += !r.ok;
  store_->add(line);
  return line;
}

nlohmann::ordered_json JudgeSession::provenance() const {
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const ReplyFile& f : replies_.files) files.push_back({{"dir", f.dir}, {"path", f.path}, {"sha256", f.sha256}, {"lines", f.lines}});
  return {{"endpoint", {{"url", client_->endpoint().url}, {"judge_model", judge_model_}, {"models_listed", listed_}}},
          {"replies", files},
          {"prompt_sets", prompt_sets_},
          {"prompt_template", {{"source", prompt_.source}, {"system", prompt_.system}, {"user", prompt_.user}}},
          {"settings",
           {{"temperature", 0},
            {"max_tokens", max_tokens_},
            {"top_logprobs", top_logprobs_},
            {"parallel", parallel_},
            {"timeout_s", client_->options().timeout_s},
            {"retries", client_->options().retries},
            {"retry_delay_s", client_->options().backoff_s},
            {"bootstrap", bootstrap_json(boot_)}}},
          {"judgements", {{"path", store_ ? store_->path() : std::string()}, {"asked", asked_}, {"reused", reused_},
                          {"failed_requests", failed_}}}};
}

std::string JudgeSession::write_result(const nlohmann::ordered_json& result) const {
  const std::string dumped = result.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::string path = (fs::path(out_dir_) / "result.json").string();
  write_file_atomic(path, dumped.data(), dumped.size());
  if (json_) std::printf("%s", dumped.c_str());
  return path;
}

}  // namespace quantlab::cli
