#pragma once
// What `eval judge pairwise` and `eval judge score` share: the endpoint and its judge model, the
// replies of eval answers folders, the prompts they answered (their question, reference answer and
// grading notes), the judge prompt, and the asking itself -- each request and answer stored in
// --out's judgements.jsonl as it happens, reused by key with --reuse. Everything is read and checked
// before --out is touched, so bad input leaves no output.
#include "args.hpp"

#include "quantlab/eval/bootstrap.hpp"
#include "quantlab/eval/chat_client.hpp"
#include "quantlab/eval/judge_prompt.hpp"
#include "quantlab/eval/judgement_store.hpp"
#include "quantlab/eval/reply_files.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace quantlab::cli {

struct JudgedPrompt {
  std::string question;                  // the conversation up to its last user turn, as text
  std::optional<std::string> reference;  // the assistant turn after it, or --reference-field
  std::optional<std::string> notes;      // --notes-field
  std::string where;                     // file:line
};

// The flags both commands take (`score` adds --reference-field and --notes-field).
std::vector<FlagSpec> judge_flags(bool score);

struct JudgeTask {
  nlohmann::ordered_json meta;      // what the item is (stored with its line)
  nlohmann::ordered_json messages;  // what the judge is sent
};

class JudgeSession {
 public:
  // Reads and checks the flags, the replies, the prompt files and the template, and asks the endpoint
  // for its model list; writes nothing.
  JudgeSession(const Args& a, const std::string& kind, JudgePrompt default_prompt, const std::set<std::string>& placeholders,
               const std::set<std::string>& required);

  const ReplyIndex& replies() const { return replies_; }
  const JudgePrompt& prompt() const { return prompt_; }
  const BootstrapOptions& bootstrap() const { return boot_; }
  const std::string& out_dir() const { return out_dir_; }
  const std::string& judge_model() const { return judge_model_; }
  // The prompt a reply answered; throws Error naming the reply's line when the prompt files lack it.
  const JudgedPrompt& prompt_of(const IndexedReply& r) const;

  // Makes --out and opens judgements.jsonl (afresh, or to reuse with --reuse).
  void start();
  // The judgement line of each task, in the tasks' order: the stored one with the same key (--reuse),
  // else a fresh request, whose line -- `meta`, the request, the reply or the error, and what
  // `read(content)` makes of the reply -- is stored as soon as it is in. --parallel requests are in
  // flight at once (the file's lines are then in the order the answers came). `progress(done, total)`
  // is called after each task, from one thread at a time.
  using Reader = std::function<nlohmann::ordered_json(const std::string&)>;
  std::vector<nlohmann::ordered_json> ask_all(const std::vector<JudgeTask>& tasks, const Reader& read,
                                              const std::function<void(size_t, size_t)>& progress);
  size_t asked() const { return asked_; }
  size_t reused() const { return reused_; }
  size_t failed() const { return failed_; }

  // Provenance and settings for result.json.
  nlohmann::ordered_json provenance() const;
  // Writes --out/result.json atomically (and prints it with --json); returns its path.
  std::string write_result(const nlohmann::ordered_json& result) const;
  bool json() const { return json_; }

 private:
  nlohmann::ordered_json ask(const JudgeTask& task, const Reader& read);

  std::string kind_;
  ReplyIndex replies_;
  std::map<std::pair<std::string, std::string>, JudgedPrompt> prompts_;
  nlohmann::ordered_json prompt_sets_ = nlohmann::ordered_json::array();
  JudgePrompt prompt_;
  std::unique_ptr<ChatClient> client_;
  std::vector<std::string> listed_;
  std::string judge_model_, request_model_;
  int64_t max_tokens_ = 0;
  int top_logprobs_ = 0;
  int parallel_ = 1;
  BootstrapOptions boot_;
  std::string out_dir_;
  bool reuse_ = false, json_ = false;
  std::unique_ptr<JudgementStore> store_;
  std::mutex mutex_;  // the store's file and the counts, when --parallel > 1
  size_t asked_ = 0, reused_ = 0, failed_ = 0;
};

// {mean, low, high, n}; the figures are null when n is 0 (nothing readable to average).
nlohmann::ordered_json interval_json(const MeanInterval& m);
// "0.625 [0.500,0.750]" (signed with `sign`), "-" when n is 0.
std::string interval_text(const MeanInterval& m, bool sign = false);

}  // namespace quantlab::cli
