// quantlab eval answers: how far each quantized model's generated answers moved from the base's
// (seed 001): replies generated (greedy and/or N sampled seeds) on prompt sets, stored for reuse,
// embedded by one or more backbones, L1/cosine distances to the base's replies and to reference
// answers with bootstrap intervals, and seed 001's hypothesis and win-rate tables. Definitions:
// eval/answer_distances.hpp, eval/hypothesis_table.hpp, docs/answers.md.
#include "bootstrap_option.hpp"
#include "calibration_input.hpp"
#include "command.hpp"
#include "device_option.hpp"
#include "eval_input.hpp"
#include "model_tokenizer.hpp"
#include "progress_line.hpp"

#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/packing.hpp"
#include "quantlab/calib/tokenizer_fn.hpp"
#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/embed/sentence_encoder.hpp"
#include "quantlab/eval/answer_distances.hpp"
#include "quantlab/eval/answer_generation.hpp"
#include "quantlab/eval/hypothesis_table.hpp"
#include "quantlab/eval/prompt_turns.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

namespace quantlab::cli {
namespace {

namespace fs = std::filesystem;

// A model on the command line with what renders and ends its prompts.
struct Condition {
  std::string path;
  std::unique_ptr<CalibrationSetup> setup;  // owns its own template, when it ships one
  const text::ChatTemplate* tmpl = nullptr;
  std::optional<Tokenizer> own_tokenizer;
  const Tokenizer* tok = nullptr;
  std::set<int32_t> end_ids;
  std::unique_ptr<Model> model;
  std::unique_ptr<Session> session;
  nlohmann::ordered_json files;  // provenance: each file's path, size and sha256
  std::string identity;          // sha256 over those
};

// Size and sha256 of the model's file, or of every regular file of its folder (sorted by name).
nlohmann::ordered_json file_provenance(const std::string& path) {
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  std::vector<fs::path> list;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) list.push_back(e.path());
    std::sort(list.begin(), list.end());
  } else {
    list.push_back(path);
  }
  for (const fs::path& p : list)
    files.push_back({{"path", p.string()}, {"size", fs::file_size(p)}, {"sha256", sha256_file(p.string())}});
  return files;
}

// What decides a model's replies in its files: sizes and hashes (and names inside a folder), not
// where they are, so a copy or a moved file reuses its stored replies.
std::string model_identity(const nlohmann::ordered_json& files, bool folder) {
  nlohmann::ordered_json id = nlohmann::ordered_json::array();
  for (const auto& f : files) {
    nlohmann::ordered_json e{{"size", f["size"]}, {"sha256", f["sha256"]}};
    if (folder) e["name"] = fs::path(f["path"].get<std::string>()).filename().string();
    id.push_back(e);
  }
  const std::string s = id.dump();
  return sha256_hex(s.data(), s.size());
}

struct PromptSet {
  std::string path, label, sha256, format;
  size_t records = 0, skipped_first = 0, not_chat = 0, no_user_turn = 0;
  std::vector<std::string> ids, where;
  std::vector<std::optional<std::string>> references;
  std::vector<std::vector<std::vector<int32_t>>> tokens;  // [condition][prompt]
};

PromptSet read_prompt_set(const std::string& path, const Args& a, std::vector<Condition>& conds) {
  PromptSet ps;
  ps.path = path;
  ps.label = fs::path(path).filename().string();
  const calib::Dataset data = calib::read_dataset(path, conds[0].setup->options.dataset);
  ps.sha256 = data.sha256;
  ps.format = calib::shape_name(data.shape);
  ps.records = data.samples.size();
  ps.tokens.resize(conds.size());
  std::set<std::string> seen;
  const long long skip = a.get_int("skip-first", 0), limit = a.get_int("limit", 0);
  if (skip < 0) throw Error("--skip-first", std::to_string(skip), "must not be negative");
  if (limit < 0) throw Error("--limit", std::to_string(limit), "must not be negative");
  for (size_t i = 0; i < data.samples.size(); ++i) {
    const calib::Sample& s = data.samples[i];
    if (i < size_t(skip)) {
      ++ps.skipped_first;
      continue;
    }
    if (limit > 0 && ps.ids.size() >= size_t(limit)) break;
    if (!s.is_chat()) {
      ++ps.not_chat;
      continue;
    }
    const std::optional<PromptTurns> turns = until_last_user_turn(s);
    if (!turns) {
      ++ps.no_user_turn;
      continue;
    }
    const auto id_field = s.fields.find("id");
    const std::string id = id_field != s.fields.end() ? id_field->second : std::to_string(s.line);
    if (!seen.insert(id).second) throw Error(s.where(), "id", "\"" + id + "\" names an earlier prompt too");
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    for (const calib::ChatMessage& m : turns->messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    for (size_t c = 0; c < conds.size(); ++c) {
      std::string rendered;
      try {
        rendered = conds[c].tmpl->apply(msgs, true);
      } catch (const Error& e) {
        throw Error(s.where(), "messages", "the chat template of " + conds[c].path + " cannot render it: " + e.what());
      }
      ps.tokens[c].push_back(calib::tokenize_sample(rendered, true, calib::tokenizer_fn(*conds[c].tok)));
    }
    ps.ids.push_back(id);
    ps.where.push_back(s.where());
    // --reference-field: the record's own field (optional per record); else the assistant turn.
    if (auto rf = a.get("reference-field")) {
      const auto r = s.fields.find(*rf);
      ps.references.push_back(r != s.fields.end() ? std::optional<std::string>(r->second) : std::nullopt);
    } else {
      ps.references.push_back(turns->reference);
    }
  }
  if (ps.ids.empty()) throw Error(path, "messages", "no conversation with a user turn to answer");
  return ps;
}

nlohmann::ordered_json interval_json(const MeanInterval& m) {
  return {{"mean", m.mean}, {"low", m.low}, {"high", m.high}, {"n", m.n}};
}

nlohmann::ordered_json condition_json(const ConditionDistances& d) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (d.to_base) j["to_base"] = interval_json(d.to_base->mean);
  if (d.to_base_next_seed) j["to_base_next_seed"] = interval_json(d.to_base_next_seed->mean);
  if (d.to_reference) j["to_reference"] = interval_json(d.to_reference->mean);
  if (d.excess_over_baseline) j["excess_over_base_baseline"] = interval_json(*d.excess_over_baseline);
  if (d.reference_minus_base) j["to_reference_minus_base"] = interval_json(*d.reference_minus_base);
  return j;
}

std::string shorten(const std::string& s, size_t n) { return s.size() > n ? "..." + s.substr(s.size() - (n - 3)) : s; }

std::string cell_text(const std::optional<PromptSeries>& s) {
  if (!s) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.4f [%.4f,%.4f]", s->mean.mean, s->mean.low, s->mean.high);
  return b;
}

void print_mode(const std::string& title, const std::vector<std::string>& names, const std::vector<ConditionDistances>& cos,
                const std::vector<ConditionDistances>& l1) {
  if (cos.empty()) return;
  std::printf("  %s\n", title.c_str());
  std::printf("    %-28s %-25s %-25s %-25s %-25s %-25s\n", "model", "cosine to base", "L1 to base", "L1 to base, next seed",
              "L1 excess over baseline", "L1 to reference");
  for (size_t c = 0; c < names.size(); ++c) {
    std::string excess = "-";
    if (l1[c].excess_over_baseline) {
      char b[64];
      const MeanInterval& m = *l1[c].excess_over_baseline;
      std::snprintf(b, sizeof b, "%+.4f [%+.4f,%+.4f]", m.mean, m.low, m.high);
      excess = b;
    }
    std::printf("    %-28s %-25s %-25s %-25s %-25s %-25s\n", shorten(names[c] + (c == 0 ? " (base)" : ""), 28).c_str(),
                cell_text(cos[c].to_base).c_str(), cell_text(l1[c].to_base).c_str(),
                cell_text(l1[c].to_base_next_seed).c_str(), excess.c_str(), cell_text(l1[c].to_reference).c_str());
  }
}

// Seed 001's win-rate tables as one matrix: a row per backbone and distance, a column per
// hypothesis and tolerance, "wins/cells" in each.
void print_win_rates(const std::vector<WinRate>& wins) {
  std::vector<std::string> rows;
  std::vector<std::pair<std::string, double>> cols;
  for (const WinRate& w : wins) {
    if (std::find(rows.begin(), rows.end(), w.row) == rows.end()) rows.push_back(w.row);
    const std::pair<std::string, double> c{w.hypothesis, w.ratio};
    if (std::find(cols.begin(), cols.end(), c) == cols.end()) cols.push_back(c);
  }
  std::sort(cols.begin(), cols.end());
  std::printf("  %-46s", "backbone distance");
  for (const auto& [h, r] : cols) {
    char b[32];
    if (r == 1.0) std::snprintf(b, sizeof b, "%s", h.c_str());
    else std::snprintf(b, sizeof b, "%s x%.2f", h.c_str(), r);
    std::printf(" %10s", b);
  }
  std::printf("\n");
  for (const std::string& row : rows) {
    std::printf("  %-46s", shorten(row, 46).c_str());
    for (const auto& [h, r] : cols) {
      std::string cell = "-";
      for (const WinRate& w : wins)
        if (w.row == row && w.hypothesis == h && w.ratio == r) cell = std::to_string(w.wins) + "/" + std::to_string(w.cells);
      std::printf(" %10s", cell.c_str());
    }
    std::printf("\n");
  }
}

int run_eval_answers(const Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string base_path = a.require("base");
  const std::vector<std::string> model_paths = a.all("model");
  if (model_paths.empty()) throw Error("--model", "", "give at least one --model");
  const std::vector<std::string> data_paths = a.all("data");
  if (data_paths.empty()) throw Error("--data", "", "give at least one prompt file");
  const std::string out_dir = a.require("out");
  AnswerRunPlan plan;
  plan.greedy = a.has("greedy");
  plan.seeds = a.get_int("seeds", 0);
  plan.max_tokens = a.get_int("max-tokens", 128);
  plan.sampling.temperature = float(a.get_double("temp", 0.8));
  plan.sampling.top_k = int32_t(a.get_int("top-k", 40));
  plan.sampling.top_p = float(a.get_double("top-p", 0.95));
  plan.sampling.min_p = float(a.get_double("min-p", 0.05));
  if (plan.seeds < 0 || plan.seeds > 1000) throw Error("--seeds", std::to_string(plan.seeds), "must be between 0 and 1000");
  if (!plan.greedy && plan.seeds == 0) throw Error("--seeds", "", "give --seeds N (sampled runs) and/or --greedy");
  if (plan.max_tokens < 1 || plan.max_tokens > 65536) throw Error("--max-tokens", "", "must be between 1 and 65536");
  if (plan.seeds > 0 && !(plan.sampling.temperature > 0))
    throw Error("--temp", std::to_string(plan.sampling.temperature), "must be above 0 for sampled runs (--greedy is the greedy run)");
  if (plan.sampling.top_k < 0) throw Error("--top-k", std::to_string(plan.sampling.top_k), "must not be negative");
  if (!(plan.sampling.top_p > 0 && plan.sampling.top_p <= 1)) throw Error("--top-p", "", "must be in (0, 1]");
  if (!(plan.sampling.min_p >= 0 && plan.sampling.min_p < 1)) throw Error("--min-p", "", "must be in [0, 1)");
  const BootstrapOptions boot = bootstrap_option(a);
  std::vector<double> ratios;
  for (const std::string& t : a.all("tolerance")) {
    double r = 0;
    try {
      r = std::stod(t);
    } catch (const std::exception&) {
      throw Error("--tolerance", t, "not a number");
    }
    if (!(r >= 1 && r <= 10)) throw Error("--tolerance", t, "must be between 1 and 10");
    ratios.push_back(r);
  }
  if (ratios.empty()) ratios = {1.05, 1.1};
  const std::string pairing_name = a.get_or("e1-pairing", "next-seed");
  if (pairing_name != "next-seed" && pairing_name != "same-seed")
    throw Error("--e1-pairing", pairing_name, "must be next-seed or same-seed");
  const E1Pairing pairing = pairing_name == "same-seed" ? E1Pairing::SameSeed : E1Pairing::NextSeed;
  const std::vector<std::string> embed_paths = a.all("embed-model");
  const bool hidden = a.has("hidden-states") || a.has("hidden-model");
  const std::string hidden_path = a.get_or("hidden-model", base_path);
  if (embed_paths.empty() && !hidden) throw Error("--embed-model", "", "give a sentence encoder (--embed-model) and/or --hidden-states");
  const bool json = a.has("json");
  const bool reuse = a.has("reuse");

  // Every model: readable, with a template and a tokenizer. The base's serve a model that ships none.
  std::vector<std::string> paths{base_path};
  paths.insert(paths.end(), model_paths.begin(), model_paths.end());
  for (const std::string& p : paths) model_file_kind(p);
  std::vector<Condition> conds(paths.size());
  for (size_t c = 0; c < paths.size(); ++c) {
    Condition& k = conds[c];
    k.path = paths[c];
    try {
      k.setup = calibration_setup(a, a.has("template") ? std::string() : k.path, 0);
    } catch (const Error& e) {
      // A quantized export folder may carry no tokenizer_config.json: the base's template serves.
      if (c == 0 || e.field() != "tokenizer_config.json") throw;
      k.setup = calibration_setup(a, std::string(), 0);
    }
    k.tmpl = k.setup->options.format.chat_template;
    if (!k.tmpl && c > 0) k.tmpl = conds[0].tmpl;
    if (!k.tmpl) throw Error(base_path, "chat_template", "the base model has no chat template; give --template FILE");
    k.own_tokenizer = tokenizer_for_model(a, k.path);
    k.tok = k.own_tokenizer ? &*k.own_tokenizer : (c > 0 ? conds[0].tok : nullptr);
    if (!k.tok) throw Error("--tokenizer", "", "the base model carries no tokenizer; give --tokenizer");
    k.end_ids = k.tok->end_of_generation_ids();
    const std::string eot = k.tmpl->end_of_turn();
    if (!eot.empty() && k.tok->token_id(eot) >= 0) k.end_ids.insert(k.tok->token_id(eot));
    if (k.end_ids.empty()) throw Error(k.path, "eos_token_id", "the vocabulary has no end-of-turn or EOS token");
  }
  std::vector<PromptSet> sets;
  for (const std::string& d : data_paths) sets.push_back(read_prompt_set(d, a, conds));
  for (size_t i = 0; i < sets.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (sets[i].label == sets[j].label) sets[i].label = sets[i].path;

  // Load everything before the first reply is written: a bad model or encoder fails with no output.
  ThreadPool pool(thread_count(a));
  const Device device = device_option(a);
  for (Condition& k : conds) {
    k.model = std::make_unique<Model>(load_model(k.path));
    k.files = file_provenance(k.path);
    // The backend is part of what decides a reply: GPU kernels round differently from the CPU's.
    k.identity = model_identity(k.files, fs::is_directory(k.path)) + "@" + (device.is_cpu() ? "cpu" : "gpu");
  }
  std::vector<std::unique_ptr<SentenceEncoder>> encoders;
  for (const std::string& e : embed_paths) encoders.push_back(std::make_unique<SentenceEncoder>(e, pool));
  std::unique_ptr<Model> hidden_model_own;
  std::optional<Tokenizer> hidden_tok_own;
  std::unique_ptr<Session> hidden_session;
  const Tokenizer* hidden_tok = nullptr;
  if (hidden) {
    const Model* hm = conds[0].model.get();
    hidden_tok = conds[0].tok;
    if (a.has("hidden-model")) {
      hidden_model_own = std::make_unique<Model>(load_model(hidden_path));
      hm = hidden_model_own.get();
      hidden_tok_own = tokenizer_for_model(a, hidden_path);
      if (hidden_tok_own) hidden_tok = &*hidden_tok_own;
    }
    // Room for a reply and a long reference; longer texts are cut (a 4096-token cache of a 7B model
    // would take gigabytes for nothing).
    const int64_t train = hm->config.n_ctx_train > 0 ? hm->config.n_ctx_train : 2048;
    hidden_session = std::make_unique<Session>(*hm, pool, std::min<int64_t>(train, std::max<int64_t>(1024, 2 * plan.max_tokens)), device);
  }

  fs::create_directories(out_dir);
  ReplyStore store((fs::path(out_dir) / "replies.jsonl").string(), reuse);
  ProgressLine progress("replies");
  std::vector<AnswerSet> answer_sets;
  nlohmann::ordered_json generation = nlohmann::ordered_json::array();
  for (PromptSet& ps : sets) {
    AnswerSet as;
    as.name = ps.label;
    as.prompt_ids = ps.ids;
    as.references = ps.references;
    as.greedy = plan.greedy;
    for (int64_t i = 0; i < plan.seeds; ++i) as.seeds.push_back(i);
    for (size_t c = 0; c < conds.size(); ++c) {
      Condition& k = conds[c];
      as.conditions.push_back(k.path);
      size_t longest = 0;
      for (const auto& t : ps.tokens[c]) longest = std::max(longest, t.size());
      const int64_t n_ctx = int64_t(longest) + plan.max_tokens + 1;
      auto session = [&]() -> Session& {
        if (!k.session || k.session->n_ctx() < n_ctx) k.session = std::make_unique<Session>(*k.model, pool, n_ctx, device);
        return *k.session;
      };
      const ConditionReplies r = condition_replies(
          ps.label, k.path, k.identity, ps.ids, ps.tokens[c], plan, k.end_ids, session,
          [&](const std::vector<int32_t>& ids) { return k.tok->decode(ids, /*skip_special=*/true); }, store,
          [&](size_t i, size_t n) { progress.update(int64_t(i), int64_t(n), ps.label + " " + shorten(k.path, 30)); });
      k.session.reset();  // one model's cache at a time
      as.text.push_back(r.text);
      generation.push_back({{"prompt_set", ps.label}, {"model", k.path}, {"generated", r.generated}, {"reused", r.reused}});
    }
    answer_sets.push_back(std::move(as));
  }
  progress.finish();

  std::vector<EmbeddingBackbone> backbones;
  for (size_t i = 0; i < encoders.size(); ++i) {
    const SentenceEncoder* enc = encoders[i].get();
    backbones.push_back({fs::path(embed_paths[i]).filename().string(), [enc](const std::string& t) { return enc->encode(t); }});
  }
  if (hidden)
    backbones.push_back({"hidden:" + fs::path(hidden_path).filename().string(), [&](const std::string& t) {
                           return mean_final_hidden_state(*hidden_session, *hidden_tok, t);
                         }});
  for (size_t i = 0; i < backbones.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (backbones[i].name == backbones[j].name) backbones[i].name += "#" + std::to_string(i);

  ProgressLine embed_progress("embeddings");
  std::vector<std::vector<BackboneDistances>> distances;
  std::vector<HypothesisCell> cells;
  for (const AnswerSet& as : answer_sets) {
    distances.push_back(answer_distances(as, backbones, boot, [&](size_t i, size_t n) {
      embed_progress.update(int64_t(i), int64_t(n), as.name);
    }));
    for (HypothesisCell& c : hypothesis_cells(as, distances.back(), pairing)) cells.push_back(std::move(c));
  }
  embed_progress.finish();
  const std::vector<HypothesisVerdict> verdicts = seed001_verdicts(cells, ratios);
  const std::vector<WinRate> wins = win_rates(verdicts);

  // The result: provenance, settings, aggregates, tables, per-reply distances.
  nlohmann::ordered_json out{{"command", "eval answers"}};
  nlohmann::ordered_json models = nlohmann::ordered_json::array();
  for (size_t c = 0; c < conds.size(); ++c)
    models.push_back({{"path", conds[c].path}, {"role", c == 0 ? "base" : "model"}, {"files", conds[c].files},
                      {"template", conds[c].tmpl->name()}});
  out["models"] = models;
  nlohmann::ordered_json sets_json = nlohmann::ordered_json::array();
  for (const PromptSet& ps : sets)
    sets_json.push_back({{"path", ps.path}, {"label", ps.label}, {"sha256", ps.sha256}, {"format", ps.format},
                         {"records", ps.records}, {"skipped_first", ps.skipped_first}, {"not_chat", ps.not_chat}, {"no_user_turn", ps.no_user_turn},
                         {"prompts", ps.ids.size()},
                         {"with_reference", std::count_if(ps.references.begin(), ps.references.end(),
                                                          [](const auto& r) { return r.has_value(); })}});
  out["prompt_sets"] = sets_json;
  nlohmann::ordered_json bb = nlohmann::ordered_json::array();
  for (size_t i = 0; i < encoders.size(); ++i)
    bb.push_back({{"name", backbones[i].name}, {"kind", "sentence-encoder"}, {"path", embed_paths[i]},
                  {"dimension", encoders[i]->info().dimension}});
  if (hidden)
    bb.push_back({{"name", backbones.back().name}, {"kind", "mean-final-hidden-state"}, {"path", hidden_path},
                  {"dimension", hidden_session->model().config.n_embd}});
  out["backbones"] = bb;
  out["settings"] = {{"device", device.name()},
                     {"greedy", plan.greedy},
                     {"seeds", plan.seeds},
                     {"sampling", {{"temperature", plan.sampling.temperature}, {"top_k", plan.sampling.top_k},
                                   {"top_p", plan.sampling.top_p}, {"min_p", plan.sampling.min_p}}},
                     {"max_tokens", plan.max_tokens},
                     {"bootstrap", bootstrap_json(boot)},
                     {"tolerances", ratios},
                     {"e1_pairing", pairing_name}};
  out["replies"] = {{"path", store.path()}, {"runs", generation}};
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (size_t s = 0; s < answer_sets.size(); ++s) {
    const AnswerSet& as = answer_sets[s];
    for (const BackboneDistances& d : distances[s]) {
      auto mode = [&](const char* name, const std::vector<ConditionDistances>& cos, const std::vector<ConditionDistances>& l1) {
        if (cos.empty()) return;
        nlohmann::ordered_json cj = nlohmann::ordered_json::array();
        for (size_t c = 0; c < cos.size(); ++c)
          cj.push_back({{"model", as.conditions[c]}, {"cosine", condition_json(cos[c])}, {"l1", condition_json(l1[c])}});
        results.push_back({{"prompt_set", as.name}, {"mode", name}, {"backbone", d.backbone}, {"conditions", cj}});
      };
      if (as.greedy) mode("greedy", d.greedy_cosine, d.greedy_l1);
      if (!as.seeds.empty()) mode("sampled", d.sampled_cosine, d.sampled_l1);
    }
  }
  out["results"] = results;
  nlohmann::ordered_json vj = nlohmann::ordered_json::array();
  for (const HypothesisVerdict& v : verdicts)
    vj.push_back({{"hypothesis", v.hypothesis}, {"ratio", v.ratio}, {"cell", v.cell}, {"row", v.row}, {"holds", v.holds}});
  out["hypotheses"] = vj;
  nlohmann::ordered_json wj = nlohmann::ordered_json::array();
  for (const WinRate& w : wins)
    wj.push_back({{"hypothesis", w.hypothesis}, {"ratio", w.ratio}, {"row", w.row}, {"wins", w.wins}, {"cells", w.cells},
                  {"win_rate", w.rate()}});
  out["win_rates"] = wj;
  nlohmann::ordered_json per = nlohmann::ordered_json::array();
  for (size_t s = 0; s < answer_sets.size(); ++s) {
    const AnswerSet& as = answer_sets[s];
    const size_t R = (as.greedy ? 1 : 0) + as.seeds.size();
    for (size_t c = 0; c < as.conditions.size(); ++c)
      for (size_t p = 0; p < as.prompt_ids.size(); ++p)
        for (size_t r = 0; r < R; ++r) {
          const bool g = as.greedy && r == 0;
          nlohmann::ordered_json rj{{"prompt_set", as.name}, {"model", as.conditions[c]}, {"prompt_id", as.prompt_ids[p]},
                                    {"seed", g ? nlohmann::ordered_json("greedy")
                                               : nlohmann::ordered_json(as.seeds[r - (as.greedy ? 1 : 0)])}};
          for (const BackboneDistances& d : distances[s]) {
            const ReplyDistances& x = d.replies[c][p][r];
            nlohmann::ordered_json dj = nlohmann::ordered_json::object();
            if (x.to_base) dj["to_base"] = {{"cosine", x.to_base->cosine}, {"l1", x.to_base->l1}};
            if (x.to_reference) dj["to_reference"] = {{"cosine", x.to_reference->cosine}, {"l1", x.to_reference->l1}};
            rj[d.backbone] = dj;
          }
          per.push_back(std::move(rj));
        }
  }
  out["per_reply"] = per;
  out["threads"] = pool.size();
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string dumped = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::string result_path = (fs::path(out_dir) / "result.json").string();
  write_file_atomic(result_path, dumped.data(), dumped.size());
  if (json) {
    std::printf("%s", dumped.c_str());
    return 0;
  }

  for (size_t s = 0; s < answer_sets.size(); ++s) {
    const AnswerSet& as = answer_sets[s];
    std::printf("%s: %zu prompts, means over prompts [%g%% bootstrap interval]\n", as.name.c_str(), as.prompt_ids.size(),
                100 * boot.level);
    for (const BackboneDistances& d : distances[s]) {
      if (as.greedy) print_mode(d.backbone + ", greedy", as.conditions, d.greedy_cosine, d.greedy_l1);
      if (!as.seeds.empty())
        print_mode(d.backbone + ", sampled (" + std::to_string(as.seeds.size()) + " seeds; the base's row: seed i vs seed i+1)",
                   as.conditions, d.sampled_cosine, d.sampled_l1);
    }
  }
  std::printf("\nseed 001 hypotheses, cells where each holds (E1: the base's own entry is the smallest distance to the\n"
              "base; E2 within a ratio of the smallest; E3/E4 the same to the references; E5 same closest model)\n");
  print_win_rates(wins);
  for (const HypothesisVerdict& v : verdicts)
    if (v.hypothesis == "E1" && !v.holds) std::printf("  E1 fails: %s, %s\n", v.cell.c_str(), v.row.c_str());
  std::printf("\nreplies: %s; result: %s\n", store.path().c_str(), result_path.c_str());
  return 0;
}

QUANTLAB_COMMAND(Command{
    "eval answers",
    "generated answers against the base's: embedding L1/cosine distances, bootstrap intervals, seed 001 win-rate tables",
    {{"base", Takes::Value, "base model (any format eval loads); its template/tokenizer serve models that ship none"},
     {"model", Takes::Values, "quantized model: GGUF, Hugging Face folder or a quantize --method gptq|awq --out folder"},
     {"data", Takes::Values, "prompt file (JSONL/JSON: messages, sharegpt, alpaca, dolly or mapped with --field); the assistant turn after the last user turn is the reference answer"},
     {"format", Takes::Value, "dataset shape: auto, alpaca, dolly, messages, sharegpt, mapped"},
     {"field", Takes::Values, "field mapping ROLE=FIELD (prompt, input, response, system, messages)"},
     {"skip-first", Takes::Value, "ignore each prompt file's first K records (held out from calibration that used them)"},
     {"limit", Takes::Value, "at most N prompts per file, in file order (default: all)"},
     {"reference-field", Takes::Value, "top-level string field holding the reference answer (optional per record)"},
     {"template", Takes::Value, "chat template file (.jinja) or tokenizer_config.json for every model"},
     {"tokenizer", Takes::Value, "tokenizer file for every model (default: each model's own)"},
     {"out", Takes::Value, "folder for replies.jsonl (every reply) and result.json"},
     {"reuse", Takes::Nothing, "take replies already in --out's replies.jsonl (same model files, prompt, settings, seed)"},
     {"seeds", Takes::Value, "sampled replies per prompt, seed i for run i (default 0)"},
     {"greedy", Takes::Nothing, "also one greedy reply per prompt"},
     {"temp", Takes::Value, "sampling temperature (default 0.8)"},
     {"top-k", Takes::Value, "keep the k most likely tokens (default 40; 0 = off)"},
     {"top-p", Takes::Value, "nucleus mass (default 0.95; 1 = off)"},
     {"min-p", Takes::Value, "drop tokens below min-p times the top probability (default 0.05; 0 = off)"},
     {"max-tokens", Takes::Value, "answer length limit (default 128)"},
     {"embed-model", Takes::Values, "sentence-transformers folder (e.g. the embed asset): one backbone each"},
     {"hidden-states", Takes::Nothing, "backbone: mean final hidden state of the base model (or --hidden-model)"},
     {"hidden-model", Takes::Value, "model whose mean final hidden state is a backbone (implies --hidden-states)"},
     {"bootstrap", Takes::Value, "bootstrap resamples (default 2000)"},
     {"bootstrap-seed", Takes::Value, "bootstrap random seed (default 0)"},
     {"confidence", Takes::Value, "interval coverage (default 0.95)"},
     {"tolerance", Takes::Values, "E2/E4 tolerance ratio (default 1.05 and 1.1)"},
     {"e1-pairing", Takes::Value, "models' distance in the hypothesis tables when sampled: next-seed (default) or same-seed"},
     {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag(),
     {"json", Takes::Nothing, "print result.json on stdout instead of the table"}},
    run_eval_answers});

}  // namespace
}  // namespace quantlab::cli
