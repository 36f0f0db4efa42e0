#include "quantlab/report/mc_correctness.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/eval/multiple_choice.hpp"

#include <filesystem>

namespace quantlab::report {
namespace fs = std::filesystem;

namespace {

std::vector<int> int_list(const nlohmann::ordered_json& j, const std::string& source, const std::string& field) {
  if (!j.is_array()) throw Error(source, field, "expected an array of integers");
  std::vector<int> v;
  for (const auto& x : j) {
    if (!x.is_number_integer()) throw Error(source, field, "expected an array of integers");
    v.push_back(x.get<int>());
  }
  return v;
}

// Gold answers of the first `n` questions of the file the cell read, if it is the very file.
std::optional<std::vector<int>> gold_from_data_file(const nlohmann::ordered_json& inputs, size_t n) {
  if (!inputs.is_object() || !inputs.contains("data") || !inputs["data"].is_object()) return std::nullopt;
  const std::string path = inputs["data"].value("path", "");
  std::error_code ec;
  if (path.empty() || !fs::is_regular_file(path, ec) || sha256_file(path) != inputs["data"].value("sha256", "")) return std::nullopt;
  const std::vector<McQuestion> questions = read_mc_questions(path);
  if (questions.size() < n) return std::nullopt;
  std::vector<int> gold;
  for (size_t i = 0; i < n; ++i) gold.push_back(questions[i].gold);
  return gold;
}

}  // namespace

std::optional<std::vector<bool>> mc_correctness(const RunResults& run, const EvaluationResult& mc, const std::string& rule) {
  if (!mc.cell.finished()) return std::nullopt;
  const std::string source = (fs::path(run.dir) / "cells" / (mc.cell.id + ".json")).string();
  const auto& f = mc.figures;
  if (!f.contains("answers") || !f["answers"].is_object() || !f["answers"].contains(rule)) return std::nullopt;
  const std::vector<int> answers = int_list(f["answers"][rule], source, "figures.answers." + rule);
  std::optional<std::vector<int>> gold;
  if (f.contains("gold")) gold = int_list(f["gold"], source, "figures.gold");
  else gold = gold_from_data_file(mc.inputs, answers.size());
  if (!gold) return std::nullopt;
  if (gold->size() != answers.size())
    throw Error(source, "figures.gold", std::to_string(gold->size()) + " gold answers for " + std::to_string(answers.size()) + " answers");
  std::vector<bool> correct;
  for (size_t i = 0; i < answers.size(); ++i) correct.push_back(answers[i] >= 0 && answers[i] == (*gold)[i]);
  return correct;
}

}  // namespace quantlab::report
