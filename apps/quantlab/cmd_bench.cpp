// quantlab bench: prompt processing (ppN) and generation (tgN) speed, measured as llama-bench
// does: a fresh context per repetition, pseudo-random tokens, one warmup run, mean ± standard
// deviation of tokens/s over the repetitions.
#include "command.hpp"
#include "progress_line.hpp"
#include "device_option.hpp"

#include "quantlab/backend/matmul.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace quantlab::cli {
namespace {

struct Stats {
  double mean = 0, stddev = 0;
  std::vector<double> samples;
};

Stats stats(std::vector<double> v) {
  Stats s;
  s.samples = v;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / double(v.size() - 1));
  }
  return s;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int32_t(rng() % uint64_t(vocab));
  return t;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int run_bench(const Args& args) {
  const std::string model_path = args.require("model");
  const long long n_prompt = args.get_int("p", 512), n_gen = args.get_int("n", 128), reps = args.get_int("reps", 3);
  const long long threads = args.get_int("threads", 0);
  if (n_prompt < 0 || n_gen < 0 || n_prompt + n_gen == 0) throw Error("-p/-n", "", "need a positive token count");
  if (n_prompt > (1 << 20) || n_gen > (1 << 20)) throw Error("-p/-n", "", "at most 1048576 tokens");
  if (reps < 1 || reps > 1000) throw Error("--reps", "", "must be between 1 and 1000");
  if (threads < 0 || threads > 1024) throw Error("--threads", "", "must be between 0 (all cores) and 1024");
  const Model model = load_model(model_path);
  ThreadPool pool(static_cast<int>(threads));
  const Device device = device_option(args);
  const int64_t V = model.config.n_vocab;
  // One session for every repetition: the weights are placed on the device once (on a GPU that is
  // an upload of the whole model), and each repetition starts from an empty cache.
  Session s(model, pool, std::max(n_prompt, n_gen), device);
  nlohmann::json results = nlohmann::json::array();

  auto report = [&](const std::string& test, int64_t n, const Stats& st) {
    results.push_back({{"test", test}, {"n_tokens", n}, {"tokens_per_s", st.mean}, {"stddev", st.stddev},
                       {"samples", st.samples}});
    if (!args.has("json"))
      std::printf("%-8s %10.2f ± %.2f tokens/s  (%s, %lld reps)\n", test.c_str(), st.mean, st.stddev,
                  s.backend().describe().c_str(), reps);
  };

  // One line on a terminal (stderr), silent otherwise: which run of which test, and the ETA.
  ProgressLine progress("bench");
  const int64_t runs = (n_prompt > 0 ? reps + 1 : 0) + (n_gen > 0 ? reps + 1 : 0);
  int64_t run = 0;
  auto step = [&](const std::string& test, long long r) {
    progress.update(run++, runs, test + (r == 0 ? " warmup" : " rep " + std::to_string(r) + "/" + std::to_string(reps)));
  };

  if (n_prompt > 0) {
    const auto tokens = random_tokens(n_prompt, V, 1);
    std::vector<double> tps;
    for (long long r = 0; r <= reps; ++r) {  // r == 0: warmup
      step("pp" + std::to_string(n_prompt), r);
      s.rewind(0);
      const auto t0 = std::chrono::steady_clock::now();
      s.forward_last(tokens);
      const double sec = seconds_since(t0);
      if (r > 0) tps.push_back(double(n_prompt) / sec);
    }
    progress.finish();
    report("pp" + std::to_string(n_prompt), n_prompt, stats(tps));
  }
  if (n_gen > 0) {
    const auto tokens = random_tokens(n_gen, V, 2);
    std::vector<double> tps;
    for (long long r = 0; r <= reps; ++r) {
      step("tg" + std::to_string(n_gen), r);
      s.rewind(0);
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < n_gen; ++i) s.forward_last({&tokens[size_t(i)], 1});
      const double sec = seconds_since(t0);
      if (r > 0) tps.push_back(double(n_gen) / sec);
    }
    progress.finish();
    report("tg" + std::to_string(n_gen), n_gen, stats(tps));
  }
  if (args.has("json"))
    print_json({{"command", "bench"}, {"model", model_path}, {"threads", pool.size()}, {"kernel", matmul_kernel_name()},
                {"device", s.backend().describe()},
                {"reps", reps}, {"results", results}});
  return 0;
}

QUANTLAB_COMMAND(Command{"bench",
                         "prompt processing and generation speed (like llama-bench pp512/tg128)",
                         {{"model", Takes::Value, "model: GGUF, llama2.c .bin, Hugging Face folder or a quantize --out folder"},
                          {"p", Takes::Value, "prompt tokens for the pp test (default 512; 0 = skip)", "p"},
                          {"n", Takes::Value, "generated tokens for the tg test (default 128; 0 = skip)", "n"},
                          {"reps", Takes::Value, "repetitions after one warmup (default 3)", "r"},
                          {"threads", Takes::Value, "worker threads (default: all cores)"}, device_flag()},
                         run_bench});

}  // namespace
}  // namespace quantlab::cli
