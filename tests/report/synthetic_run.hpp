#pragma once
// A hand-written run directory in the shapes `quantlab sweep` writes (src/pipeline/sweep.cpp:
// sweep.json's rows; sweep_cells.cpp: each cell's figures), small enough to compute every expected
// figure by hand.
#include "io/io_test_util.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace quantlab::test {

class SyntheticRun {
 public:
  explicit SyntheticRun(std::filesystem::path dir) : dir_(std::move(dir)) { std::filesystem::create_directories(dir_ / "cells"); }

  const std::filesystem::path& dir() const { return dir_; }

  // One cell: its row in sweep.json and, when finished, its result in cells/<id>.json.
  void cell(const std::string& id, const std::string& kind, const std::string& status, const std::string& config,
            const std::string& evaluation, nlohmann::ordered_json figures, nlohmann::ordered_json inputs = nlohmann::ordered_json::object(),
            const std::string& model = "m", const std::string& error = "") {
    nlohmann::ordered_json row{{"cell", id}, {"kind", kind}, {"key", "key-" + id}, {"status", status}, {"model", model}};
    if (!config.empty()) row["config"] = config;
    if (!evaluation.empty()) row["evaluation"] = evaluation;
    if (!error.empty()) row["error"] = error;
    if (status == "done" || status == "reused") {
      row["result"] = "cells/" + id + ".json";
      nlohmann::ordered_json result{{"cell", id}, {"kind", kind}, {"key", "key-" + id}, {"model", model}};
      if (!config.empty()) result["config"] = config;
      if (!evaluation.empty()) result["evaluation"] = evaluation;
      result["inputs"] = inputs;
      if (kind == "base" || kind == "quantize" || kind == "imatrix") result["output"] = {{"path", "files/" + id + ".gguf"}, {"size", 1}, {"sha256", std::string(64, 'a')}};
      result["figures"] = figures;
      result["run"] = {{"seconds", 1.0}, {"quantlab", "0.1.0"}, {"commit", "abc1234"}, {"finished_at", "2026-12-01T00:00:00Z"}};
      write_text(dir_ / "cells" / (id + ".json"), result.dump(2));
    }
    rows_.push_back(row);
    write_status();
  }

  void quantize(const std::string& config, double size, double bpw, const std::string& status = "done", const std::string& error = "") {
    cell("quantize.m." + config, "quantize", status, config, "", {{"file_size", size}, {"bits_per_weight", bpw}}, nlohmann::ordered_json::object(),
         "m", error);
  }
  void kld(const std::string& of, double mean, double stderr_, const std::string& status = "done") {
    cell("kld.m." + of + ".wiki", "kld", status, of, "wiki", {{"kld_mean", mean}, {"kld_stderr", stderr_}, {"same_top", 0.9}});
  }
  void ppl(const std::string& of, double ppl, double stderr_) {
    cell("ppl.m." + (of.empty() ? "base" : of) + ".wiki", "ppl", "done", of, "wiki", {{"ppl", ppl}, {"ppl_stderr", stderr_}});
  }
  void mc(const std::string& of, const std::vector<int>& answers, const std::vector<int>& gold, bool store_gold = true,
          nlohmann::ordered_json inputs = nlohmann::ordered_json::object()) {
    int64_t correct = 0;
    for (size_t i = 0; i < answers.size(); ++i) correct += answers[i] == gold[i];
    const double n = double(answers.size()), acc = double(correct) / n;
    nlohmann::ordered_json f{{"questions", answers.size()},
                             {"accuracy", {{"per-char", {{"acc", acc}, {"stderr", std::sqrt(acc * (1 - acc) / (n - 1))}, {"correct", correct}, {"n", answers.size()}}}}},
                             {"answers", {{"per-char", answers}}}};
    if (store_gold) f["gold"] = gold;
    cell("mc.m." + (of.empty() ? "base" : of) + ".arc", "mc", "done", of, "arc", f, inputs);
  }

  void write_status() const {
    const nlohmann::ordered_json s{{"recipe", "recipe.yaml"}, {"run_dir", dir_.string()}, {"quantlab", "0.1.0"}, {"commit", "abc1234"},
                                   {"updated_at", "2026-12-01T00:00:00Z"}, {"cells", rows_}};
    write_text(dir_ / "sweep.json", s.dump(2));
  }

 private:
  std::filesystem::path dir_;
  nlohmann::ordered_json rows_ = nlohmann::ordered_json::array();
};

}  // namespace quantlab::test
