// quantlab eval chat: how a quantized chat model's replies behave next to its base model's on
// held-out chat prompts: KLD on the base's reply tokens, how replies end (clean end of turn, a new
// invented turn, never), repetition. Definitions: eval/chat_behaviour.hpp, docs/chat-eval.md.
#include "calibration_input.hpp"
#include "command.hpp"
#include "device_option.hpp"
#include "eval_input.hpp"
#include "model_tokenizer.hpp"

#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/packing.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/embed/sentence_encoder.hpp"
#include "quantlab/eval/chat_eval.hpp"
#include "quantlab/eval/prompt_turns.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/text/script_mix.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <unistd.h>

namespace quantlab::cli {
namespace {

struct PromptSet {
  std::vector<ChatPrompt> prompts;
  size_t records = 0, skipped_first = 0, not_chat = 0, no_user_turn = 0, too_long = 0, available = 0;
};

// Each conversation up to and including its last user turn, rendered with the generation prompt and
// tokenized as calibration tokenizes templated text (special tokens parsed, BOS once).
PromptSet read_prompts(const Args& a, const calib::Dataset& data, const text::ChatTemplate& tmpl, const Tokenizer& tok,
                       size_t skip_first, size_t max_prompt_tokens) {
  PromptSet ps;
  ps.records = data.samples.size();
  const calib::TokenizerFn fn = calib::tokenizer_fn(tok);
  std::vector<ChatPrompt> pool;
  for (size_t i = 0; i < data.samples.size(); ++i) {
    const calib::Sample& s = data.samples[i];
    if (i < skip_first) {
      ++ps.skipped_first;
      continue;
    }
    if (!s.is_chat()) {
      ++ps.not_chat;
      continue;
    }
    const std::optional<PromptTurns> turns = until_last_user_turn(s);
    if (!turns) {
      ++ps.no_user_turn;
      continue;
    }
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    for (const calib::ChatMessage& m : turns->messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    std::string rendered;
    try {
      rendered = tmpl.apply(msgs, true);
    } catch (const Error& e) {
      throw Error(s.where(), "messages", std::string("the chat template cannot render it: ") + e.what());
    }
    ChatPrompt p{calib::tokenize_sample(rendered, true, fn), s.where(), text::language_of(turns->messages.back().content)};
    if (p.tokens.size() > max_prompt_tokens) {
      ++ps.too_long;
      continue;
    }
    pool.push_back(std::move(p));
  }
  ps.available = pool.size();
  const long long n = a.get_int("samples", 0);
  if (n < 0) throw Error("--samples", std::to_string(n), "must not be negative");
  if (n == 0 || size_t(n) >= pool.size()) {
    ps.prompts = std::move(pool);
    return ps;
  }
  // The calibration selection (same seed, same picks), file order kept.
  calib::SelectionOptions sel;
  sel.num_samples = size_t(n);
  const long long seed = a.get_int("seed", 0);
  if (seed < 0) throw Error("--seed", std::to_string(seed), "must not be negative");
  sel.seed = uint64_t(seed);
  std::vector<size_t> lengths;
  for (const ChatPrompt& p : pool) lengths.push_back(p.tokens.size());
  const std::vector<std::string> none(pool.size());
  calib::PackingStats stats;
  for (size_t i : calib::select_samples(none, none, lengths, sel, stats)) ps.prompts.push_back(std::move(pool[i]));
  return ps;
}

double rate(int64_t k, int64_t n) { return n > 0 ? double(k) / double(n) : 0.0; }

nlohmann::ordered_json stats_json(const ChatModelStats& s, bool with_kld) {
  nlohmann::ordered_json j{{"replies", s.replies},
                           {"clean_end_rate", rate(s.clean_end, s.replies)},
                           {"new_turn_rate", rate(s.new_turn, s.replies)},
                           {"never_ends_rate", rate(s.never_ends, s.replies)},
                           {"clean_end", s.clean_end},
                           {"new_turn", s.new_turn},
                           {"never_ends", s.never_ends},
                           {"new_turn_in_reply", s.new_turn_in_reply},
                           {"new_turn_after_end", s.new_turn_after_end},
                           {"mean_reply_tokens", s.mean_reply_tokens},
                           {"mean_repeated_4grams", s.mean_repeated_4grams},
                           {"runaway_rate", rate(s.runaway, s.replies)},
                           {"runaway", s.runaway},
                           {"wrong_language_rate", rate(s.wrong_language, s.replies)},
                           {"wrong_language", s.wrong_language}};
  if (s.mean_cosine_to_base) j["mean_cosine_to_base"] = *s.mean_cosine_to_base;
  if (s.mean_l1_to_base) j["mean_l1_to_base"] = *s.mean_l1_to_base;
  if (with_kld) {
    const KldSummary& k = s.kld;
    j["kld_assistant_tokens"] = {{"n_tokens", k.count},    {"mean", k.kld_mean},     {"stderr", k.kld_err},
                                 {"median", k.kld_median}, {"p99", k.kld_p99},       {"max", k.kld_max},
                                 {"same_top", k.same_top}, {"same_top_stderr", k.same_top_err},
                                 {"ppl_model", k.ppl},     {"ppl_base", k.ppl_base}};
  }
  return j;
}

nlohmann::ordered_json reply_json(const GeneratedReply& r, const Tokenizer& tok, bool with_kld) {
  const ReplyBehaviour& b = r.behaviour;
  const auto n = size_t(b.reply_tokens);
  const std::vector<int32_t> reply(r.tokens.begin(), r.tokens.begin() + long(n));
  const std::vector<int32_t> after(r.tokens.begin() + long(n), r.tokens.end());
  nlohmann::ordered_json j{{"ending", reply_ending_name(b.ending)},
                           {"ended", b.ended},
                           {"reply_tokens", b.reply_tokens},
                           {"new_turn_in_reply", b.new_turn_in_reply},
                           {"new_turn_after_end", b.new_turn_after_end},
                           {"repeated_4grams", b.repeated_4grams},
                           {"runaway", b.runaway},
                           {"language", b.language},
                           {"wrong_language", b.wrong_language}};
  if (!b.new_turn_line.empty()) j["new_turn_line"] = b.new_turn_line;
  if (with_kld) j["kld_mean"] = r.kld_mean;
  if (r.cosine_to_base) j["cosine_to_base"] = *r.cosine_to_base;
  if (r.l1_to_base) j["l1_to_base"] = *r.l1_to_base;
  // Invalid UTF-8 (a cut multi-byte character) is replaced when dumped.
  j["text"] = tok.decode(reply);
  j["after_end"] = tok.decode(after);
  return j;
}

void print_table(const ChatEvalResult& r, const std::string& base_path, const std::vector<std::string>& paths) {
  std::printf("%-40s %9s %9s %7s %7s %7s %7s %9s %8s %8s %6s\n", "model", "KLD", "same-top", "clean", "newturn", "never",
              "tokens", "rep-4gram", "runaway", "language", "n");
  auto row = [](const std::string& name, const ChatModelStats& s, bool kld) {
    std::string shown = name.size() > 40 ? "..." + name.substr(name.size() - 37) : name;
    char k[32] = "-", t[32] = "-";
    if (kld) {
      std::snprintf(k, sizeof k, "%.5f", s.kld.kld_mean);
      std::snprintf(t, sizeof t, "%.2f%%", 100 * s.kld.same_top);
    }
    std::printf("%-40s %9s %9s %6.1f%% %6.1f%% %6.1f%% %7.1f %8.2f%% %7.1f%% %7.1f%% %6lld\n", shown.c_str(), k, t,
                100 * rate(s.clean_end, s.replies), 100 * rate(s.new_turn, s.replies),
                100 * rate(s.never_ends, s.replies), s.mean_reply_tokens, 100 * s.mean_repeated_4grams,
                100 * rate(s.runaway, s.replies), 100 * rate(s.wrong_language, s.replies),
                static_cast<long long>(s.replies));
  };
  row(base_path + " (base)", r.base, false);
  for (size_t m = 0; m < paths.size(); ++m) row(paths[m], r.models[m], true);
  for (size_t m = 0; m < paths.size(); ++m)
    if (r.models[m].mean_cosine_to_base)
      std::printf("%-40s reply embedding vs the base's: mean cosine %.4f, mean L1 %.4f\n", paths[m].c_str(),
                  *r.models[m].mean_cosine_to_base, *r.models[m].mean_l1_to_base);
}

int run_eval_chat(const Args& a) {
  const std::vector<std::string> model_paths = a.all("model");
  if (model_paths.empty()) throw Error("--model", "", "give at least one --model");
  const std::string base_path = a.require("base-model");
  const std::string data_path = a.require("data");
  ChatEvalOptions o;
  o.max_tokens = a.get_int("max-tokens", 128);
  o.after_end = a.get_int("after-end", 48);
  if (o.max_tokens < 1 || o.max_tokens > 65536) throw Error("--max-tokens", "", "must be between 1 and 65536");
  if (o.after_end < 0 || o.after_end > 65536) throw Error("--after-end", "", "must be between 0 and 65536");
  const long long skip_first = a.get_int("skip-first", 0);
  if (skip_first < 0) throw Error("--skip-first", std::to_string(skip_first), "must not be negative");
  const long long max_prompt = a.get_int("max-prompt-tokens", 1024);
  if (max_prompt < 1) throw Error("--max-prompt-tokens", std::to_string(max_prompt), "must be at least 1");
  const bool json = a.has("json");
  const bool tty = !json && ::isatty(2);
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::string& p : model_paths) model_file_kind(p);  // a wrong path fails now, not after the base has run

  // The base model supplies the tokenizer and the chat template (a quantized export may carry neither).
  // With --template the base model's own template is not read (a llama2.c checkpoint has none).
  const auto setup = calibration_setup(a, a.has("template") ? std::string() : base_path, 0);
  const text::ChatTemplate* tmpl = setup->options.format.chat_template;
  if (!tmpl) throw Error(base_path, "chat_template", "the base model has no chat template; give --template FILE");
  const std::optional<Tokenizer> tok = tokenizer_for_model(a, base_path);
  if (!tok) throw Error("--tokenizer", "", "the base model carries no tokenizer; give --tokenizer");
  const calib::Dataset data = calib::read_dataset(data_path, setup->options.dataset);
  const PromptSet ps = read_prompts(a, data, *tmpl, *tok, size_t(skip_first), size_t(max_prompt));
  if (ps.prompts.empty()) throw Error(data_path, "messages", "no conversation with a user turn remains to evaluate");

  ChatTextRules rules;
  rules.end_ids = tok->end_of_generation_ids();
  const std::string eot_text = tmpl->end_of_turn();
  if (!eot_text.empty() && tok->token_id(eot_text) >= 0) rules.end_ids.insert(tok->token_id(eot_text));
  if (rules.end_ids.empty()) throw Error(base_path, "eos_token_id", "the vocabulary has no end-of-turn or EOS token");
  rules.decode = [&](std::span<const int32_t> ids) { return tok->decode(std::vector<int32_t>(ids.begin(), ids.end())); };
  rules.openers = template_turn_openers(*tmpl);

  const Model base_model = load_model(base_path);
  std::vector<std::unique_ptr<Model>> models;
  for (const std::string& p : model_paths) models.push_back(std::make_unique<Model>(load_model(p)));
  size_t longest = 0;
  for (const ChatPrompt& p : ps.prompts) longest = std::max(longest, p.tokens.size());
  const int64_t n_ctx = int64_t(longest) + o.max_tokens + o.after_end + 1;
  ThreadPool pool(thread_count(a));
  const Device device = device_option(a);
  // Read before any model runs, so that a wrong folder fails at once.
  std::optional<SentenceEncoder> embed_encoder;
  if (auto e = a.get("embed-model")) embed_encoder.emplace(*e, pool);
  Session base(base_model, pool, n_ctx, device);
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<Session*> ptrs;
  for (const auto& m : models) {
    sessions.push_back(std::make_unique<Session>(*m, pool, n_ctx, device));
    ptrs.push_back(sessions.back().get());
  }
  ChatEvalResult r = chat_eval(base, ptrs, ps.prompts, o, rules, [&](size_t i, size_t n) {
    if (tty) std::fprintf(stderr, "\rprompt %zu/%zu", i + 1, n);
  });
  if (tty) std::fprintf(stderr, "\n");
  if (embed_encoder)
    add_reply_distances(r, *embed_encoder, [&](std::span<const int32_t> ids) {
      return tok->decode(std::vector<int32_t>(ids.begin(), ids.end()), /*skip_special=*/true);
    });

  nlohmann::ordered_json out{{"command", "eval chat"}, {"base_model", base_path}, {"models", model_paths}};
  out["data"] = {{"path", data_path},
                 {"sha256", data.sha256},
                 {"format", calib::shape_name(data.shape)},
                 {"records", ps.records},
                 {"skipped_first", ps.skipped_first},
                 {"not_chat", ps.not_chat},
                 {"no_user_turn", ps.no_user_turn},
                 {"too_long", ps.too_long},
                 {"available", ps.available},
                 {"prompts", ps.prompts.size()}};
  out["template"] = {{"name", tmpl->name()}, {"sha256", sha256_hex(tmpl->source().data(), tmpl->source().size())}, {"end_of_turn", eot_text},
                     {"turn_openers", rules.openers}};
  std::vector<std::string> end_texts;
  for (int32_t id : rules.end_ids) end_texts.push_back(tok->token_text(id));
  out["settings"] = {{"max_tokens", o.max_tokens}, {"after_end", o.after_end},      {"samples", a.get_int("samples", 0)},
                     {"seed", a.get_int("seed", 0)}, {"skip_first", skip_first}, {"max_prompt_tokens", max_prompt},
                     {"end_tokens", end_texts}};
  if (embed_encoder) out["settings"]["embed_model"] = *a.get("embed-model");
  nlohmann::ordered_json results{{"base", stats_json(r.base, false)}};
  results["models"] = nlohmann::ordered_json::array();
  for (size_t m = 0; m < model_paths.size(); ++m) {
    nlohmann::ordered_json mj = stats_json(r.models[m], true);
    mj["model"] = model_paths[m];
    results["models"].push_back(std::move(mj));
  }
  out["results"] = results;
  nlohmann::ordered_json per = nlohmann::ordered_json::array();
  for (size_t p = 0; p < ps.prompts.size(); ++p) {
    nlohmann::ordered_json pj{{"where", ps.prompts[p].where}, {"prompt_tokens", ps.prompts[p].tokens.size()}};
    pj["base"] = reply_json(r.base.per_prompt[p], *tok, false);
    pj["models"] = nlohmann::ordered_json::array();
    for (size_t m = 0; m < model_paths.size(); ++m) pj["models"].push_back(reply_json(r.models[m].per_prompt[p], *tok, true));
    per.push_back(std::move(pj));
  }
  out["prompts"] = per;
  out["threads"] = pool.size();
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string dumped = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (auto f = a.get("out")) write_file_atomic(*f, dumped.data(), dumped.size());
  if (json) std::printf("%s", dumped.c_str());
  else print_table(r, base_path, model_paths);
  return 0;
}

QUANTLAB_COMMAND(Command{
    "eval chat",
    "chat replies of quantized models against the base: KLD on assistant tokens, turn endings, repetition",
    {{"model", Takes::Values, "quantized model: GGUF, Hugging Face folder or a quantize --method gptq|awq --out folder"},
     {"base-model", Takes::Value, "base model; its tokenizer and chat template are used for every model"},
     {"data", Takes::Value, "chat dataset (messages, sharegpt, alpaca, dolly, mapped; read as --calib is)"},
     {"format", Takes::Value, "dataset shape: auto, alpaca, dolly, messages, sharegpt, mapped"},
     {"field", Takes::Values, "field mapping ROLE=FIELD (prompt, input, response, system, category, messages)"},
     {"template", Takes::Value, "chat template file (.jinja) or tokenizer_config.json instead of the base model's"},
     {"tokenizer", Takes::Value, "tokenizer file (default: the base model's own, for GGUF)"},
     {"samples", Takes::Value, "prompts to evaluate, chosen as calibration chooses (default: all)"},
     {"seed", Takes::Value, "selection seed (default 0)"},
     {"skip-first", Takes::Value, "ignore the file's first K records (held out from calibration that used them)"},
     {"max-tokens", Takes::Value, "reply length limit (default 128)"},
     {"after-end", Takes::Value, "tokens generated after the end of turn to look for a new turn (default 48)"},
     {"max-prompt-tokens", Takes::Value, "skip prompts longer than this (default 1024)"},
     {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag(),
     {"out", Takes::Value, "also write the JSON report (with every reply) to this file"},
     {"embed-model", Takes::Value, "sentence-transformers folder (e.g. the embed asset): cosine/L1 of each reply to the base's"},
     {"json", Takes::Nothing, "print one JSON object on stdout"}},
    run_eval_chat});

}  // namespace
}  // namespace quantlab::cli
