// Recipe checks of `quantlab sweep`: every mistake is one line naming the recipe file and the key
// path, all of them reported together before anything runs. Runs on a llama2.c model the test
// writes itself (no downloaded asset).
#include "cli/tiny_llama2c.hpp"
#include "io/io_test_util.hpp"

#include "quantlab/pipeline/sweep_plan.hpp"
#include "quantlab/pipeline/sweep_recipe.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

class SweepRecipe : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("sweep-recipe");
    tiny_ = test::write_tiny_llama2c(dir_);
    test::write_text(dir_ / "text.txt", "the ab ba a the\n");
    test::write_text(dir_ / "calib.txt", "the ab ba\n\nba ab the\n");
    test::write_text(dir_ / "mc.jsonl", R"({"context": "the", "choices": ["ab", "ba"], "gold": 0})" "\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The recipe's models/calibration header (paths relative to the recipe) followed by `rest`.
  std::string recipe(const std::string& rest) const {
    return "out: run\nmodels:\n  tiny:\n    path: " + tiny_.model.filename().string() + "\n    tokenizer: " +
           tiny_.tokenizer.filename().string() + "\ncalibration:\n  text:\n    file: calib.txt\n    format: text-paragraphs\n" + rest;
  }

  pipeline::Recipe read(const std::string& text) const {
    test::write_text(dir_ / "r.yaml", text);
    return pipeline::read_recipe((dir_ / "r.yaml").string(), [this](const std::string& role) -> std::string {
      if (role == "text") return (dir_ / "text.txt").string();
      throw Error("asset:" + role, "", "unknown role");
    });
  }

  // The error lines of a recipe that must be refused.
  std::vector<std::string> problems(const std::string& text) const {
    try {
      read(text);
    } catch (const pipeline::RecipeError& e) {
      return e.lines();
    }
    ADD_FAILURE() << "accepted:\n" << text;
    return {};
  }

  fs::path dir_;
  test::TinyLlama2c tiny_;
};

bool has_line(const std::vector<std::string>& lines, const std::string& key, const std::string& what) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find("r.yaml: " + key + ": ") != std::string::npos && l.find(what) != std::string::npos;
  });
}

std::string all(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

TEST_F(SweepRecipe, AGoodRecipeReadsWithDerivedNamesAndResolvedPaths) {
  const pipeline::Recipe r = read(recipe(
      "quantize:\n  - {method: rtn, bits: 8}\n  - {method: gptq, bits: 8, calib: text, act_order: true}\n"
      "  - {method: gguf, type: q8_0, imatrix: text}\n  - {method: nf4, name: my-nf4}\n"
      "evaluations:\n  - {name: t, ppl: {file: asset:text, ctx: 16, chunks: 2}}\n  - kld: {file: text.txt, ctx: 16}\n"
      "  - mc: {data: mc.jsonl, limit: 1}\nthreads: 1\nparallel: 2\n"));
  ASSERT_EQ(r.quantize.size(), 4u);
  EXPECT_EQ(r.quantize[0].name, "rtn-w8");
  EXPECT_EQ(r.quantize[1].name, "gptq-w8-act-order-text");
  EXPECT_EQ(r.quantize[2].name, "Q8_0-imatrix-text");
  EXPECT_EQ(r.quantize[3].name, "my-nf4");
  ASSERT_EQ(r.evaluations.size(), 3u);
  EXPECT_EQ(r.evaluations[0].path, (dir_ / "text.txt").string());
  EXPECT_EQ(r.evaluations[1].name, "text");
  EXPECT_EQ(r.parallel, 2);
  EXPECT_TRUE(r.models[0].llama2c);
  // The plan: a base, an imatrix, 4 quantized files, base logits, and the evaluations (no KLD of the base).
  const pipeline::SweepPlan p = pipeline::plan_sweep(r, (dir_ / "run").string());
  EXPECT_EQ(p.cells.size(), 1u + 1u + 4u + 1u + 2u + 4u * 3u);
  for (size_t i = 0; i < p.cells.size(); ++i)
    for (size_t d : p.cells[i].deps) EXPECT_LT(d, i) << p.cells[i].id;
  // The same recipe gives the same keys; a changed setting changes only the cells it decides.
  const pipeline::SweepPlan again = pipeline::plan_sweep(r, (dir_ / "elsewhere").string());
  for (size_t i = 0; i < p.cells.size(); ++i) EXPECT_EQ(p.cells[i].id, again.cells[i].id);
  pipeline::Recipe changed = r;
  changed.quantize[0].bits = 4;
  const pipeline::SweepPlan c = pipeline::plan_sweep(changed, (dir_ / "run").string());
  size_t differ = 0;
  for (size_t i = 0; i < p.cells.size(); ++i) differ += p.cells[i].key != c.cells[i].key;
  EXPECT_EQ(differ, 4u) << "rtn's quantize cell and its ppl, kld, mc cells";
}

TEST_F(SweepRecipe, EveryMistakeIsOneLineNamingTheKeyPath) {
  const auto lines = problems(recipe(
      "quantize:\n"
      "  - {method: rtn, bits: four}\n"                 // [0] wrong type
      "  - {method: gguf, type: Q4_X}\n"                // [1] unknown type
      "  - {method: gptq, bits: 4}\n"                   // [2] no calibration set
      "  - {method: rtn, imatrix: text}\n"              // [3] key the method does not take
      "  - {method: awq, calib: nope}\n"                // [4] names no calibration set
      "  - {method: quantum}\n"                         // [5] unknown method
      "  - {method: gguf}\n"                            // [6] no type
      "evaluations:\n"
      "  - ppl: {file: text.txt, ctx: many}\n"          // [0] wrong type
      "  - mc: {data: absent.jsonl}\n"                  // [1] no such file
      "  - bleu: {file: text.txt}\n"                    // [2] unknown kind
      "parallel: 0\n"
      "colour: blue\n"));
  EXPECT_TRUE(has_line(lines, "quantize[0].bits", "expected an integer")) << all(lines);
  EXPECT_TRUE(has_line(lines, "quantize[1].type", "Q4_X")) << all(lines);
  EXPECT_TRUE(has_line(lines, "quantize[2].calib", "needs a calibration set")) << all(lines);
  EXPECT_TRUE(has_line(lines, "quantize[3].imatrix", "unknown key")) << all(lines);
  EXPECT_TRUE(has_line(lines, "quantize[4].calib", "names no calibration set")) << all(lines);
  EXPECT_TRUE(has_line(lines, "quantize[5].method", "quantum")) << all(lines);
  EXPECT_TRUE(has_line(lines, "quantize[6].type", "missing")) << all(lines);
  EXPECT_TRUE(has_line(lines, "evaluations[0].ppl.ctx", "expected an integer")) << all(lines);
  EXPECT_TRUE(has_line(lines, "evaluations[1].mc.data", "no such file")) << all(lines);
  EXPECT_TRUE(has_line(lines, "evaluations[2].bleu", "unknown key")) << all(lines);
  EXPECT_TRUE(has_line(lines, "parallel", "from 1 to 64")) << all(lines);
  EXPECT_TRUE(has_line(lines, "colour", "unknown key")) << all(lines);
  for (const auto& l : lines) EXPECT_EQ(l.find('\n'), std::string::npos) << l;
  // Nothing else: each mistake once (evaluations[2] also lacks a kind, said on its own line).
  EXPECT_EQ(lines.size(), 13u) << all(lines);
}

TEST_F(SweepRecipe, ModelsMustBeModelsAndQuantizedSourcesNeedDequantize) {
  test::write_text(dir_ / "notes.txt", "not a model at all\n");
  auto lines = problems("models:\n  m:\n    path: notes.txt\n");
  EXPECT_TRUE(has_line(lines, "models.m.path", "not a model")) << all(lines);
  lines = problems("models:\n  m:\n    path: " + tiny_.model.filename().string() + "\n");
  EXPECT_TRUE(has_line(lines, "models.m.tokenizer", "missing")) << all(lines);
  lines = problems("models:\n  m: [a, b]\n");
  EXPECT_TRUE(has_line(lines, "models.m", "expected a mapping")) << all(lines);
  // A GGUF whose weights are already rounded: quantizing it again is refused unless dequantized first.
  const auto q = test::run_command(test::shell_quote(test::cli_path().string()) + " quantize --method gguf --type Q4_0 --model " +
                                   test::shell_quote(tiny_.model.string()) + " --tokenizer " +
                                   test::shell_quote(tiny_.tokenizer.string()) + " --out " + test::shell_quote((dir_ / "q4.gguf").string()));
  ASSERT_EQ(q.status, 0) << q.err;
  lines = problems("models:\n  m:\n    path: q4.gguf\n");
  EXPECT_TRUE(has_line(lines, "models.m.dequantize", "already quantized")) << all(lines);
  EXPECT_NO_THROW(read("models:\n  m:\n    path: q4.gguf\n    dequantize: F32\n"));
}

TEST_F(SweepRecipe, NotYamlNamesTheLine) {
  test::write_text(dir_ / "r.yaml", "models:\n  m: {path: [unclosed\n");
  test::expect_typed([&] { pipeline::read_recipe((dir_ / "r.yaml").string(), {}); }, "r.yaml", "line");
}

}  // namespace
