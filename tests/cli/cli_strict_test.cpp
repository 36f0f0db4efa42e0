// The CLI never lets a mistake pass: every subcommand answers an unknown single-dash flag, an
// unknown long flag, a stray positional argument and a file that is not a model with one line on
// stderr and a non-zero exit, and leaves no output file behind; llama.cpp's short flags work where
// they are documented aliases. Runs on a tiny llama2.c model the test writes itself (and its GGUF,
// made by `quantlab convert`), so it needs no downloaded asset.
#include "io/io_test_util.hpp"
#include "tiny_llama2c.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/model/model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

size_t lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

test::CommandResult ql(const std::string& args) {
  return test::run_command(test::shell_quote(test::cli_path().string()) + " " + args + " </dev/null");
}

std::string q(const fs::path& p) { return test::shell_quote(p.string()); }

// A refused command: non-zero exit, exactly one line on stderr, nothing on stdout.
::testing::AssertionResult refused(const test::CommandResult& r) {
  if (r.status == 0) return ::testing::AssertionFailure() << "exit 0; stdout: " << r.out;
  if (lines(r.err) != 1) return ::testing::AssertionFailure() << lines(r.err) << " lines on stderr:\n" << r.err;
  if (!r.out.empty()) return ::testing::AssertionFailure() << "stdout not empty: " << r.out;
  return ::testing::AssertionSuccess();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(test::temp_dir("cli-strict"));
    const fs::path& d = *dir_;
    const test::TinyLlama2c t = test::write_tiny_llama2c(d);
    const auto conv = ql("convert --model " + q(t.model) + " --tokenizer " + q(t.tokenizer) + " --out " + q(d / "converted.gguf"));
    ASSERT_EQ(conv.status, 0) << conv.err;
    {
      // llama.cpp's converter (and so quantlab's) writes separator/padding ids of 0xFFFFFFFF ("none"),
      // which the GGUF vocabulary reader refuses until issue 11's "none" ids land; the model is the same.
      const GgufFile converted((d / "converted.gguf").string());
      GgufWriter w = gguf_writer_from(converted);
      w.remove("tokenizer.ggml.seperator_token_id");
      w.remove("tokenizer.ggml.padding_token_id");
      w.write((d / "tiny.gguf").string());
    }
    test::write_text(d / "notes.txt", "These are my notes, not a model.\nA second line.\n");
    std::string ids;
    for (int i = 0; i < 300; ++i) ids += std::to_string(3 + (i * 37) % 256) + (i % 20 == 19 ? "\n" : " ");
    test::write_text(d / "ids.txt", "1 " + ids);
    test::write_text(d / "text.txt", "the ab ba a the\n");
    std::string words;  // text long enough for two 16-token chunks
    for (int i = 0; i < 40; ++i) words += i % 3 ? "ab ba " : "the a ";
    test::write_text(d / "ids-text.txt", words + "\n");
    test::write_text(d / "mc.jsonl", R"({"context": "the", "choices": ["ab", "ba"], "gold": 0})" "\n");
    test::write_text(d / "calib.jsonl", R"({"text": "the ab ba the ab"})" "\n" R"({"text": "ba ab the a"})" "\n");
    test::write_text(d / "chat.jsonl", R"({"messages": [{"role": "user", "content": "ab"}]})" "\n");
    test::write_text(d / "chat.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
    auto gguf = test::read_bytes(d / "tiny.gguf");
    gguf.resize(gguf.size() / 2);
    test::write_bytes(d / "truncated.gguf", gguf);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path dir() { return *dir_; }
  static fs::path bin() { return *dir_ / "tiny.bin"; }
  static fs::path tok() { return *dir_ / "tok.bin"; }
  static fs::path gguf() { return *dir_ / "tiny.gguf"; }
  static fs::path notes() { return *dir_ / "notes.txt"; }
  // A fresh, empty folder for a command's outputs: whatever a refused command leaves shows there.
  static fs::path out_dir(std::string name) {
    std::replace(name.begin(), name.end(), ' ', '-');
    const fs::path p = *dir_ / ("out-" + name);
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }
  static bool empty_dir(const fs::path& p) { return fs::is_empty(p); }

  // Every subcommand, from `quantlab --help`.
  static std::vector<std::string> commands() {
    const auto r = ql("--help");
    std::vector<std::string> names;
    const std::regex row("^  ([a-z]+(?: [a-z]+){0,2})  +\\S.*$");
    std::istringstream in(r.out);
    std::string line;
    bool in_list = false;
    while (std::getline(in, line)) {
      if (line == "Commands:") in_list = true;
      else if (line.empty()) in_list = false;
      std::smatch m;
      if (in_list && std::regex_match(line, m, row)) names.push_back(m[1]);
    }
    return names;
  }

  // Arguments that make each command run on `model` (with {OUT} for an output folder), so that the
  // model is the only thing wrong when it is not one.
  static std::map<std::string, std::string> model_invocations(const fs::path& model) {
    const fs::path& d = *dir_;
    const std::string m = q(model);
    return {
        {"inspect", m},
        {"tokenize", "--model " + m + " " + q(d / "text.txt")},
        {"generate", "--model " + m + " --prompt-ids 1 --n 2"},
        {"bench", "--model " + m + " -p 4 -n 2 -r 1"},
        {"eval ppl", "--model " + m + " --ids " + q(d / "ids.txt") + " --ctx 16"},
        {"eval kld", "--model " + m + " --base-model " + q(gguf()) + " --ids " + q(d / "ids.txt") + " --ctx 16"},
        {"eval mc", "--model " + m + " --data " + q(d / "mc.jsonl")},
        {"eval chat", "--model " + m + " --base-model " + q(gguf()) + " --template " + q(d / "chat.jinja") + " --data " +
                          q(d / "chat.jsonl") + " --out {OUT}/chat.json"},
        {"eval answers", "--model " + m + " --base " + q(gguf()) + " --template " + q(d / "chat.jinja") + " --data " +
                             q(d / "chat.jsonl") + " --seeds 2 --max-tokens 2 --hidden-states --bootstrap 10 --out {OUT}/answers"},
        {"imatrix", "--model " + m + " --ids " + q(d / "ids.txt") + " --ctx 16 --out {OUT}/im.gguf"},
        {"quantize", "--method gguf --type Q8_0 --model " + m + " --out {OUT}/q.gguf"},
        {"calib inspect", q(d / "calib.jsonl") + " --model " + m + " --out {OUT}/report.json"},
        {"convert", "--model " + m + " --tokenizer " + q(tok()) + " --out {OUT}/c.gguf"},
        {"rotate", "--model " + m + " --out {OUT}/r.gguf"},
        {"embed", "--model " + m + " " + q(d / "text.txt")},
        // --check: load, bind a free port and exit instead of serving.
        {"serve", "--model " + m + " --port 0 --check --quiet"},
        {"sweep", q(sweep_recipe(model)) + " --out {OUT}/run"},
    };
  }

  // A one-configuration sweep of `model` (Q8_0, perplexity of the ids' text); a llama2.c checkpoint
  // gets its tokenizer.bin in the recipe, since sweep has no --tokenizer flag.
  static fs::path sweep_recipe(const fs::path& model) {
    const fs::path& d = *dir_;
    const fs::path recipe = d / ("sweep-" + model.filename().string() + ".yaml");
    std::string text = "models:\n  m:\n    path: " + model.string() + "\n";
    if (model.extension() == ".bin") text += "    tokenizer: " + tok().string() + "\n";
    text += "threads: 1\nquantize:\n  - {method: gguf, type: Q8_0}\nevaluations:\n  - ppl: {file: " +
            (d / "ids-text.txt").string() + ", ctx: 16, chunks: 1}\n";
    test::write_text(recipe, text);
    return recipe;
  }

  // The judge commands read no model: their input is eval answers folders (here a text file, refused
  // naming it) and an endpoint, which is not reached: everything local is read first.
  static std::map<std::string, std::string> judge_invocations(const fs::path& replies) {
    const std::string e = "--endpoint http://127.0.0.1:9 --replies " + q(replies) + " --out {OUT}/judge";
    return {{"eval judge pairwise", e + " --base b --model m"}, {"eval judge score", e + " --model m"}};
  }

  // advise and report read a sweep's run directory (here a text file, refused naming it).
  static std::map<std::string, std::string> run_dir_invocations(const fs::path& run) {
    return {{"advise", q(run)}, {"report", q(run) + " --out {OUT}/report.html"}};
  }

  static std::string with_out(std::string args, const fs::path& out) {
    for (size_t at; (at = args.find("{OUT}")) != std::string::npos;) args.replace(at, 5, out.string());
    return args;
  }

 private:
  static fs::path* dir_;
};
fs::path* Cli::dir_ = nullptr;

TEST_F(Cli, EveryCommandRefusesUnknownFlagsStrayArgumentsAndNonModelFiles) {
  const auto names = commands();
  ASSERT_GE(names.size(), 13u);
  const auto invocations = model_invocations(notes());
  const auto judges = judge_invocations(notes());
  const auto runs = run_dir_invocations(notes());
  for (const std::string& c : names) {
    SCOPED_TRACE(c);
    const bool judge = judges.count(c) > 0, run_dir = runs.count(c) > 0;
    const std::string args = c == "version" ? "" : judge ? judges.at(c) : run_dir ? runs.at(c) : invocations.at(c);
    // Before any other argument is looked at, and with every other argument right.
    const std::string good = with_out(args, out_dir("good-" + c));
    for (const std::string& bad : {std::string("-Z 3"), std::string("--no-such-flag"), std::string("stray1 stray2 stray3")}) {
      SCOPED_TRACE(bad);
      const auto r = ql(c + " " + bad + " " + good);
      EXPECT_TRUE(refused(r));
      EXPECT_TRUE(contains(r.err, bad.substr(0, bad.find(' ')))  || contains(r.err, "stray")) << r.err;
    }
    if (c == "version") continue;
    const fs::path out = out_dir(c);
    const auto r = ql(c + " " + with_out(args, out));
    EXPECT_TRUE(refused(r));
    EXPECT_TRUE(contains(r.err, notes().string())) << r.err;
    if (judge) {
      EXPECT_TRUE(contains(r.err, "not a folder written by eval answers")) << r.err;
    } else if (run_dir) {
      EXPECT_TRUE(contains(r.err, "not a sweep run directory")) << r.err;
    } else if (c != "tokenize") {  // tokenize reads tokenizer files too
      EXPECT_TRUE(contains(r.err, "not a model")) << r.err;
    }
    EXPECT_TRUE(empty_dir(out)) << "a refused command left a file in " << out;
  }
  EXPECT_EQ(invocations.size() + judges.size() + runs.size() + 1, names.size()) << "a new command needs its line in model_invocations()";
}

TEST_F(Cli, EveryCommandRunsOnTheLlama2cCheckpointAndItsGguf) {
  for (const fs::path& model : {bin(), gguf()}) {
    for (const auto& [c, args] : model_invocations(model)) {
      SCOPED_TRACE(c + " on " + model.string());
      if (model == gguf() && c == "convert") continue;  // convert reads llama2.c checkpoints only
      if (c == "embed") {  // sentence encoders are BERT folders: a decoder is refused, naming it
        const auto refused_run = ql(c + " " + with_out(args, out_dir("run-" + c)));
        EXPECT_TRUE(refused(refused_run));
        EXPECT_TRUE(contains(refused_run.err, model.string())) << refused_run.err;
        continue;
      }
      // A llama2.c checkpoint carries no vocabulary: commands that need one are given its tokenizer.bin.
      std::string run = with_out(args, out_dir("run-" + c));
      if (model == bin() && c == "tokenize") run = with_out(model_invocations(tok()).at(c), out_dir("run-" + c));
      else if (model == bin() && (c == "eval mc" || c == "eval chat" || c == "calib inspect" || c == "quantize" ||
                                  c == "serve" || c == "rotate"))
        run += " --tokenizer " + q(tok());
      const auto r = ql(c + " " + run);
      EXPECT_EQ(r.status, 0) << r.err;
    }
  }
  // The layer-by-layer methods take the checkpoint too (calibrated ones with its tokenizer).
  for (const char* method : {"rtn", "gptq", "awq"}) {
    SCOPED_TRACE(method);
    const fs::path out = out_dir(std::string("m-") + method);
    const auto r = ql("quantize --method " + std::string(method) + " --model " + q(bin()) + " --tokenizer " + q(tok()) +
                      " --group-size 32 --calib " + q(dir() / "calib.jsonl") + " --samples 2 --seq-len 8 --out " +
                      q(out / "q") + " --json --profile");
    ASSERT_EQ(r.status, 0) << r.err;
    // --profile: where the seconds went, each phase within the run's time.
    const auto j = nlohmann::json::parse(r.out);
    std::set<std::string> phases;
    for (const auto& p : j["profile"]) {
      phases.insert(p["phase"].get<std::string>());
      EXPECT_GE(p["count"].get<int64_t>(), 1);
      EXPECT_LE(p["seconds"].get<double>(), j["quantize_seconds"].get<double>());
    }
    EXPECT_TRUE(phases.count("decode weights"));
    if (std::string(method) != "rtn") {
      EXPECT_TRUE(phases.count("calibration pass"));
    }
    if (std::string(method) == "gptq") {
      for (const char* p : {"gptq.hessian", "gptq.prepare", "gptq.factor", "gptq.sweep", "gptq.sweep.columns"}) {
        EXPECT_TRUE(phases.count(p)) << p;
      }
    }
  }
  // GPTQ onto GGUF block types from the checkpoint: the converted source is planned on and removed.
  const fs::path out = out_dir("gptq-gguf");
  const auto r = ql("quantize --method gptq --type Q8_0 --model " + q(bin()) + " --tokenizer " + q(tok()) + " --calib " +
                    q(dir() / "calib.jsonl") + " --samples 2 --seq-len 8 --out " + q(out / "g.gguf") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["type"], "Q8_0");
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(out)) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"g.gguf"});
}

// Calibration activations that overflow (a model whose FFN hidden state reaches infinity) are named
// as such, with the tensor, before GPTQ's factorization could report a misleading "not positive
// definite"; nothing is written.
TEST_F(Cli, GptqOnActivationsThatOverflowNamesTheTensorAndWritesNothing) {
  const fs::path out = out_dir("overflow");
  const test::TinyLlama2c t = test::write_tiny_llama2c(out, 1e20f);
  for (const char* target : {"--group-size 32", "--type Q8_0"}) {
    SCOPED_TRACE(target);
    const auto r = ql("quantize --method gptq " + std::string(target) + " --model " + q(t.model) + " --tokenizer " +
                      q(t.tokenizer) + " --calib " + q(dir() / "calib.jsonl") + " --samples 2 --seq-len 8 --out " +
                      q(out / "q"));
    EXPECT_TRUE(refused(r)) << r.err;
    EXPECT_TRUE(contains(r.err, "blk.0.ffn_down.weight")) << r.err;
    EXPECT_TRUE(contains(r.err, "NaN or infinite")) << r.err;
    EXPECT_FALSE(fs::exists(out / "q"));
  }
}

TEST_F(Cli, LlamaCppShortFlagsAreAliasesOrNameWhatTheyMeant) {
  const std::string m = q(gguf());
  auto gen = ql("generate -m " + m + " --prompt-ids 1 -n 3 --ignore-eos -t 1 --json");
  ASSERT_EQ(gen.status, 0) << gen.err;
  EXPECT_EQ(nlohmann::json::parse(gen.out)["n_generated"], 3);
  auto bench = ql("bench -m " + m + " -p 8 -n 4 -r 1 -t 1 --json");
  ASSERT_EQ(bench.status, 0) << bench.err;
  const auto bj = nlohmann::json::parse(bench.out);
  EXPECT_EQ(bj["reps"], 1);
  ASSERT_EQ(bj["results"].size(), 2u);
  EXPECT_EQ(bj["results"][0]["test"], "pp8");
  EXPECT_EQ(bj["results"][1]["test"], "tg4");
  EXPECT_EQ(bj["results"][0]["samples"].size(), 1u);
  EXPECT_TRUE(bench.err.empty()) << "no progress line when stderr is not a terminal: " << bench.err;
  auto ppl = ql("eval ppl -m " + m + " --ids " + q(dir() / "ids.txt") + " -c 16 --chunks 2 --json");
  ASSERT_EQ(ppl.status, 0) << ppl.err;
  EXPECT_EQ(nlohmann::json::parse(ppl.out)["n_ctx"], 16);
  auto text = ql("eval ppl -m " + m + " -f " + q(dir() / "text.txt") + " -c 4 --json");
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_EQ(nlohmann::json::parse(text.out)["input"]["kind"], "text");

  auto r = ql("generate -model " + m + " --prompt-ids 1");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "did you mean --model")) << r.err;
  r = ql("eval ppl -m " + m + " --ids " + q(dir() / "ids.txt") + " -b 8");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "--batch-size")) << r.err;
  r = ql("bench -m " + m + " -ngl 99");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "-ngl")) << r.err;
  // A value that starts with a dash still belongs to its flag; "--" ends the flags.
  r = ql("generate -m " + m + " --prompt-ids 1 --n 2 --seed -5");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "--seed")) << r.err;
  r = ql("tokenize -m " + m + " -- -not-a-flag");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "-not-a-flag: cannot open")) << r.err;
}

TEST_F(Cli, HelpShowsAliasesPositionalArgumentsStdinAndJsonOnce) {
  for (const std::string& c : commands()) {
    SCOPED_TRACE(c);
    const auto r = ql(c + " --help");
    ASSERT_EQ(r.status, 0) << r.err;
    size_t n = 0;  // flag lines naming --json
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) n += std::regex_search(line, std::regex("^ +(-[a-z], )?--json "));
    EXPECT_EQ(n, 1u) << r.out;
    EXPECT_TRUE(contains(r.out, "Usage: quantlab " + c)) << r.out;
  }
  const auto tok = ql("tokenize --help");
  EXPECT_TRUE(contains(tok.out, "[FILE]")) << tok.out;
  EXPECT_TRUE(contains(tok.out, "standard input")) << tok.out;
  EXPECT_TRUE(contains(ql("inspect --help").out, "FILE|DIR"));
  const auto gen = ql("generate --help").out;
  EXPECT_TRUE(contains(gen, "-n, --n V")) << gen;
  EXPECT_TRUE(contains(gen, "-m, --model V")) << gen;
  EXPECT_TRUE(contains(ql("bench --help").out, "-r, --reps V"));
  EXPECT_TRUE(contains(ql("eval ppl --help").out, "-c, --ctx V"));
}

TEST_F(Cli, GroupsListTheirSubcommands) {
  const auto eval = ql("eval");
  EXPECT_NE(eval.status, 0);
  for (const char* sub : {"eval ppl", "eval kld", "eval mc", "eval chat"}) EXPECT_TRUE(contains(eval.out, sub)) << eval.out;
  EXPECT_EQ(ql("eval --help").status, 0);
  EXPECT_TRUE(contains(ql("calib").out, "calib inspect"));
  const auto unknown = ql("eval perplexity");
  EXPECT_TRUE(refused(unknown));
  EXPECT_TRUE(contains(unknown.err, "ppl") && contains(unknown.err, "kld") && contains(unknown.err, "chat")) << unknown.err;
  // Three-word commands form a group of their own inside the first.
  const auto judge = ql("eval judge");
  EXPECT_NE(judge.status, 0);
  EXPECT_TRUE(contains(judge.out, "eval judge pairwise") && contains(judge.out, "eval judge score")) << judge.out;
  EXPECT_TRUE(contains(eval.out, "eval judge pairwise")) << eval.out;
  EXPECT_EQ(ql("eval judge --help").status, 0);
  const auto no_judge = ql("eval judge elo");
  EXPECT_TRUE(refused(no_judge));
  EXPECT_TRUE(contains(no_judge.err, "'elo'") && contains(no_judge.err, "pairwise") && contains(no_judge.err, "score")) << no_judge.err;
  const auto top = ql("evaluate");
  EXPECT_TRUE(refused(top));
  EXPECT_TRUE(contains(top.err, "eval")) << top.err;
}

TEST_F(Cli, NotAModelIsToldByItsBytes) {
  EXPECT_EQ(model_file_kind(gguf().string()), ModelFileKind::Gguf);
  EXPECT_EQ(model_file_kind(bin().string()), ModelFileKind::Llama2c);
  const fs::path d = out_dir("kinds");
  test::write_text(d / "empty.bin", "");
  test::write_text(d / "words.bin", "dim hidden layers heads kv vocab seq and more text after the header");
  fs::create_directories(d / "folder");
  for (const fs::path& p : {notes(), d / "empty.bin", d / "words.bin", d / "folder", d / "absent.gguf"}) {
    SCOPED_TRACE(p);
    try {
      model_file_kind(p.string());
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.source(), p.string());
      EXPECT_TRUE(contains(e.what(), "not a model") || contains(e.what(), "no such file")) << e.what();
    }
  }
  // A plausible llama2.c header keeps the checkpoint reader's own, precise error (a cut file).
  auto ck = test::read_bytes(bin());
  ck.resize(ck.size() - 4);
  test::write_bytes(d / "cut.bin", ck);
  const auto r = ql("generate -m " + q(d / "cut.bin") + " --prompt-ids 1");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "size")) << r.err;
}

// --target-bpw end to end: the plan printed by --json is the file's, within the budget.
TEST_F(Cli, TargetBpwWritesTheAllocationItPrints) {
  const fs::path out = out_dir("allocation");
  std::string text;
  for (int i = 0; i < 60; ++i) text += "the ab ba a the ";
  test::write_text(out / "held-out.txt", text);
  const auto r = ql("quantize --method gguf --target-bpw 7.5 --alloc-text " + q(out / "held-out.txt") +
                    " --alloc-ctx 32 --alloc-chunks 2 --model " + q(gguf()) + " --out " + q(out / "a.gguf") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_LE(j["bpw"].get<double>(), 7.5);
  EXPECT_EQ(j["text"]["chunks"], 2);
  const auto f = ql("inspect --json " + q(out / "a.gguf"));
  ASSERT_EQ(f.status, 0) << f.err;
  EXPECT_TRUE(contains(f.out, "quantlab.allocation.kld")) << f.out.substr(0, 2000);
  int units = 0;
  for (const auto& u : j["units"]) {
    ++units;
    EXPECT_FALSE(u["chosen"].get<std::string>().empty());
  }
  EXPECT_EQ(units, 4);  // the fixture's one layer (attention, FFN), its embedding and its head
}

TEST_F(Cli, RequantizingNeedsAllowRequantizeDequantizingDoesNot) {
  const fs::path out = out_dir("requant");
  const auto q4 = ql("quantize --method gguf --type Q4_0 --model " + q(gguf()) + " --out " + q(out / "q4_0.gguf"));
  ASSERT_EQ(q4.status, 0) << q4.err;
  const auto refused_run = ql("quantize --method gguf --type Q8_0 --model " + q(out / "q4_0.gguf") + " --out " + q(out / "q8.gguf"));
  EXPECT_TRUE(refused(refused_run));
  EXPECT_TRUE(contains(refused_run.err, "--allow-requantize")) << refused_run.err;
  EXPECT_TRUE(contains(refused_run.err, "already quantized")) << refused_run.err;
  EXPECT_FALSE(fs::exists(out / "q8.gguf"));
  const auto allowed = ql("quantize --method gguf --type Q8_0 --allow-requantize --model " + q(out / "q4_0.gguf") + " --out " +
                          q(out / "q8.gguf") + " --json");
  ASSERT_EQ(allowed.status, 0) << allowed.err;
  EXPECT_GT(nlohmann::json::parse(allowed.out)["n_requantized"].get<int>(), 0);
  const auto f32 = ql("quantize --method gguf --type F32 --model " + q(out / "q4_0.gguf") + " --out " + q(out / "f32.gguf"));
  EXPECT_EQ(f32.status, 0) << f32.err;
  // The layer-by-layer methods follow the same rule.
  const auto rtn = ql("quantize --method rtn --group-size 32 --model " + q(out / "q4_0.gguf") + " --out " + q(out / "rtn"));
  EXPECT_TRUE(refused(rtn));
  EXPECT_TRUE(contains(rtn.err, "--allow-requantize")) << rtn.err;
  EXPECT_FALSE(fs::exists(out / "rtn"));
}

// Left out, the group size is the largest up to 128 that every linear's inputs divide by (the
// model's 32-wide inputs: 32); a size named explicitly that a loader could not read is refused.
TEST_F(Cli, GroupSizeLeftOutIsTheLargestEveryLinearTakes) {
  const fs::path out = out_dir("group-auto");
  const auto chosen = ql("quantize --method rtn --model " + q(gguf()) + " --out " + q(out / "rtn") + " --json");
  ASSERT_EQ(chosen.status, 0) << chosen.err;
  EXPECT_EQ(nlohmann::json::parse(chosen.out)["group_size"].get<int>(), 32);
  EXPECT_EQ(read_json_file((out / "rtn/config.json").string())["quantization_config"]["group_size"].get<int>(), 32);
  const auto named = ql("quantize --method rtn --group-size 128 --model " + q(gguf()) + " --out " + q(out / "g128"));
  EXPECT_TRUE(refused(named));
  EXPECT_TRUE(contains(named.err, "auto picks 32")) << named.err;
  EXPECT_FALSE(fs::exists(out / "g128"));
}

TEST_F(Cli, ContextLongerThanTrainedIsRefusedUnlessAllowed) {
  const std::string ids = q(dir() / "ids.txt");
  auto r = ql("eval ppl -m " + q(gguf()) + " --ids " + ids + " --ctx 128");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "128") && contains(r.err, "64") && contains(r.err, "--allow-long-context")) << r.err;
  r = ql("eval ppl -m " + q(gguf()) + " --ids " + ids + " --ctx 128 --allow-long-context --json");
  EXPECT_EQ(r.status, 0) << r.err;
  r = ql("eval ppl -m " + q(bin()) + " --ids " + ids);  // the default 512
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "512")) << r.err;
  r = ql("eval kld -m " + q(gguf()) + " --base-model " + q(bin()) + " --ids " + ids + " --ctx 100");
  EXPECT_TRUE(refused(r));
  r = ql("imatrix -m " + q(gguf()) + " --ids " + ids + " --ctx 100 --out " + q(out_dir("im-long") / "im.gguf"));
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(empty_dir(dir() / "out-im-long"));
  r = ql("generate -m " + q(gguf()) + " --prompt-ids 1 -n 100");
  EXPECT_TRUE(refused(r));
  EXPECT_TRUE(contains(r.err, "101")) << r.err;
}

TEST_F(Cli, IdsAcceptWhatTokenizeJsonPrints) {
  const auto t = ql("tokenize --json -m " + q(gguf()) + " " + q(dir() / "text.txt"));
  ASSERT_EQ(t.status, 0) << t.err;
  const auto ids = nlohmann::json::parse(t.out)["ids"].get<std::vector<int32_t>>();
  ASSERT_GE(ids.size(), 8u);
  const fs::path d = out_dir("ids-json");
  test::write_text(d / "ids.json", t.out);
  const auto ppl = ql("eval ppl -m " + q(gguf()) + " --ids " + q(d / "ids.json") + " -c 4 --json");
  ASSERT_EQ(ppl.status, 0) << ppl.err;
  EXPECT_EQ(nlohmann::json::parse(ppl.out)["input"]["n_tokens"], ids.size());
  const auto gen = ql("generate -m " + q(gguf()) + " -n 1 --json --prompt-ids " + test::shell_quote(t.out));
  ASSERT_EQ(gen.status, 0) << gen.err;
  EXPECT_EQ(nlohmann::json::parse(gen.out)["prompt_ids"].get<std::vector<int32_t>>(), ids);
  // The same ids, decoded back, give the text (stdin as the input).
  const auto dec = test::run_command(test::shell_quote(test::cli_path().string()) + " tokenize --decode --no-special -m " + q(gguf()) +
                                     " < " + q(d / "ids.json"));
  ASSERT_EQ(dec.status, 0) << dec.err;
  EXPECT_EQ(dec.out, "the ab ba a the\n");
}

TEST_F(Cli, ConvertWritesTheGgufAtomically) {
  const fs::path out = out_dir("convert");
  const auto r = ql("convert -m " + q(bin()) + " --tokenizer " + q(tok()) + " -o " + q(out / "t.gguf") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(test::read_bytes(out / "t.gguf"), test::read_bytes(dir() / "converted.gguf"));
  const auto j = ql("inspect --json " + q(out / "t.gguf"));
  ASSERT_EQ(j.status, 0) << j.err;
  EXPECT_EQ(nlohmann::json::parse(j.out)["format"], "gguf v3");
  auto cut = test::read_bytes(tok());
  cut.resize(cut.size() - 3);
  test::write_bytes(out / "cut-tok.bin", cut);
  const fs::path bad = out_dir("convert-bad");
  for (const std::string& args : {"-m " + q(bin()) + " --tokenizer " + q(out / "cut-tok.bin") + " -o " + q(bad / "x.gguf"),
                                  "-m " + q(gguf()) + " --tokenizer " + q(tok()) + " -o " + q(bad / "x.gguf"),
                                  "-m " + q(bin()) + " -o " + q(bad / "x.gguf"),
                                  "-m " + q(bin()) + " --tokenizer " + q(tok()) + " -o " + q(bad)}) {
    SCOPED_TRACE(args);
    EXPECT_TRUE(refused(ql("convert " + args)));
    EXPECT_TRUE(empty_dir(bad));
  }
}

// Missing files, corrupt files and wrong flag values: one line, non-zero exit, no output file.
TEST_F(Cli, BadInputToQuantizeImatrixEvalAndGenerate) {
  const std::string m = q(gguf()), ids = q(dir() / "ids.txt"), cut = q(dir() / "truncated.gguf");
  const std::string absent = q(dir() / "absent.gguf");
  const fs::path d = out_dir("bad-inputs");
  test::write_text(d / "bad-ids.txt", "1 2 x 4");
  test::write_text(d / "oov-ids.txt", "1 2 99999" + std::string(40, ' ') + "4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40");
  test::write_text(d / "bad-ids.json", R"({"ids": [1, 2, -3]})");
  test::write_text(d / "bad-mc.jsonl", "{not json\n");
  test::write_text(d / "not-base.kld", "this is no base-logits file");
  const fs::path out = out_dir("bad-outputs");
  const std::string o = q(out);
  const std::vector<std::pair<std::string, std::string>> cases = {  // arguments, what the error names
      // quantize
      {"quantize --method gguf --type Q8_0 --model " + absent + " --out " + o + "/q.gguf", "no such file"},
      {"quantize --method gguf --type Q8_0 --model " + cut + " --out " + o + "/q.gguf", "past the end"},
      {"quantize --method gguf --type Q9_X --model " + m + " --out " + o + "/q.gguf", "Q9_X"},
      {"quantize --method gguf --type Q8_0 --threads many --model " + m + " --out " + o + "/q.gguf", "--threads"},
      {"quantize --method gguf --type Q8_0 --tensor-type nonsense --model " + m + " --out " + o + "/q.gguf", "PATTERN=TYPE"},
      {"quantize --method gguf --type Q8_0 --model " + m, "--out: is required"},
      {"quantize --method gguf --type Q8_0 --model " + m + " --out " + m, "overwrite the input"},
      {"quantize --method magic --model " + m + " --out " + o + "/q", "unknown method"},
      {"quantize --method rtn --bits 5 --model " + m + " --out " + o + "/q", "--bits"},
      {"quantize --method rtn --group-size -1 --model " + m + " --out " + o + "/q", "--group-size"},
      {"quantize --method rtn --model " + cut + " --out " + o + "/q", "past the end"},
      {"quantize --method gptq --group-size 32 --model " + m + " --calib " + q(dir() / "absent.jsonl") + " --out " + o + "/q", "absent.jsonl"},
      // quantize: bit allocation (budgets out of reach are refused before anything is measured)
      {"quantize --method gguf --target-bpw 0.5 --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "below what the types"},
      {"quantize --method gguf --target-bpw 40 --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "bpw"},
      {"quantize --method gguf --target-size 1KiB --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "MiB)"},
      {"quantize --method gguf --target-bpw few --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "--target-bpw: few"},
      {"quantize --method gguf --target-size 3parsecs --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "--target-size"},
      {"quantize --method gguf --target-bpw 8 --target-size 1MiB --model " + m + " --out " + o + "/q.gguf", "one of --target-bpw"},
      {"quantize --method gguf --target-bpw 8 --type Q4_0 --model " + m + " --out " + o + "/q.gguf", "--type"},
      {"quantize --method gguf --target-bpw 8 --model " + m + " --out " + o + "/q.gguf", "--alloc-text"},
      {"quantize --method gguf --target-bpw 8 --alloc-unit block --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "--alloc-unit"},
      {"quantize --method gguf --target-bpw 8 --alloc-types Q4_K,Q9_X --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "Q9_X"},
      {"quantize --method gguf --target-bpw 8 --alloc-text " + q(dir() / "text.txt") + " --model " + m + " --out " + o + "/q.gguf", "needs at least one chunk"},
      {"quantize --method gguf --target-bpw 8 --alloc-reuse " + m + " --model " + m + " --out " + o + "/q.gguf", "not a quantlab bit-allocation file"},
      // imatrix
      {"imatrix --model " + m + " --ids " + q(dir() / "absent.txt") + " --ctx 16 --out " + o + "/im.gguf", "absent.txt"},
      {"imatrix --model " + m + " --ids " + q(d / "bad-ids.txt") + " --ctx 16 --out " + o + "/im.gguf", "'x' is not a token id"},
      {"imatrix --model " + m + " --ids " + ids + " --ctx sixteen --out " + o + "/im.gguf", "--ctx"},
      {"imatrix --model " + m + " --ids " + ids + " --ctx 2 --out " + o + "/im.gguf", "--ctx: 2"},
      {"imatrix --model " + cut + " --ids " + ids + " --ctx 16 --out " + o + "/im.gguf", "past the end"},
      {"imatrix --model " + m + " --ids " + q(d / "oov-ids.txt") + " --ctx 16 --out " + o + "/im.gguf", "99999"},
      // eval ppl
      {"eval ppl --model " + absent + " --ids " + ids + " --ctx 16", "no such file"},
      {"eval ppl --model " + cut + " --ids " + ids + " --ctx 16", "past the end"},
      {"eval ppl --model " + m + " --ids " + q(d / "bad-ids.txt") + " --ctx 16", "'x' is not a token id"},
      {"eval ppl --model " + m + " --ids " + q(d / "bad-ids.json") + " --ctx 16", "ids[2]"},
      {"eval ppl --model " + m + " --ids " + q(d / "oov-ids.txt") + " --ctx 16", "99999"},
      {"eval ppl --model " + m + " --ids " + ids + " --ctx 16 --chunks x", "--chunks"},
      {"eval ppl --model " + m + " --ids " + ids + " --ctx 1", "--ctx: 1"},
      {"eval ppl --model " + m + " --ids " + ids + " --ctx 16 --file " + q(dir() / "text.txt"), "exactly one of --file and --ids"},
      // eval kld
      {"eval kld --model " + m + " --base " + q(dir() / "absent.kld"), "absent.kld"},
      {"eval kld --model " + m + " --base " + q(d / "not-base.kld"), "not-base.kld"},
      {"eval kld --model " + m + " --ids " + ids + " --ctx 16", "exactly one of --base"},
      {"eval kld --model " + cut + " --base-model " + m + " --ids " + ids + " --ctx 16", "past the end"},
      {"eval kld --model " + m + " --save-base " + o + "/base.kld --ids " + q(d / "bad-ids.txt") + " --ctx 16", "'x' is not a token id"},
      {"eval kld --model " + m + " --save-base " + o + "/base.kld --ids " + ids + " --ctx 16 --threads -2", "--threads"},
      // eval mc
      {"eval mc --model " + m + " --data " + q(dir() / "absent.jsonl"), "absent.jsonl"},
      {"eval mc --model " + m + " --data " + q(d / "bad-mc.jsonl") + " --out " + o + "/mc.json", "bad-mc.jsonl"},
      {"eval mc --model " + m + " --data " + q(dir() / "mc.jsonl") + " --limit -1 --out " + o + "/mc.json", "--limit"},
      {"eval mc --model " + cut + " --data " + q(dir() / "mc.jsonl") + " --out " + o + "/mc.json", "past the end"},
      // generate
      {"generate --model " + absent + " --prompt-ids 1", "no such file"},
      {"generate --model " + cut + " --prompt-ids 1", "past the end"},
      {"generate --model " + m + " --prompt-ids '1 x'", "'x' is not a token id"},
      {"generate --model " + m + " --prompt-ids 99999 -n 2", "99999"},
      {"generate --model " + m + " --prompt-ids 1 --n -5", "--n"},
      {"generate --model " + m + " --prompt-ids 1 --temp hot", "--temp"},
      {"generate --model " + m + " --prompt-ids 1 --prompt hello", "exactly one of --prompt"},
      // bench
      {"bench --model " + m + " -r 0", "--reps"},
      {"bench --model " + m + " -p x", "expected an integer"},
      {"bench --model " + cut, "past the end"},
  };
  for (const auto& [c, names] : cases) {
    SCOPED_TRACE(c);
    const auto r = ql(c);
    EXPECT_TRUE(refused(r));
    EXPECT_TRUE(contains(r.err, names)) << r.err;
    EXPECT_TRUE(empty_dir(out)) << "left behind: " << fs::directory_iterator(out)->path();
    fs::remove_all(out);
    fs::create_directories(out);
  }
}

}  // namespace
