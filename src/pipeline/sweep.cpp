// The sweep's run loop: resume from RUN/cells/, schedule ready cells (at most `parallel` at once),
// write each result atomically and keep RUN/sweep.json current.
#include "quantlab/pipeline/sweep.hpp"

#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/pipeline/sweep_cells.hpp"

#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#ifndef QUANTLAB_GIT_COMMIT
#define QUANTLAB_GIT_COMMIT ""
#endif

namespace quantlab::pipeline {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

enum class State { Pending, Running, Reused, Done, Failed, Blocked };

const char* state_name(State s) {
  switch (s) {
    case State::Pending: return "pending";
    case State::Running: return "running";
    case State::Reused: return "reused";
    case State::Done: return "done";
    case State::Failed: return "failed";
    case State::Blocked: return "blocked";
  }
  return "?";
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_json_atomic(const std::string& path, const ojson& j) {
  const std::string s = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  write_file_atomic(path, s.data(), s.size());
}

class Runner {
 public:
  Runner(const Recipe& r, const SweepOptions& o) : r_(r), o_(o) {
    run_dir_ = !o.out.empty() ? o.out : r.out;
    if (run_dir_.empty()) throw Error(r.path, "out", "no run directory: give `out:` in the recipe or --out");
    parallel_ = o.parallel > 0 ? o.parallel : r.parallel;
    const int threads = o.threads >= 0 ? o.threads : r.threads;
    total_threads_ = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
  }

  SweepSummary run() {
    const auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    fs::create_directories(fs::path(run_dir_) / "cells", ec);
    fs::create_directories(fs::path(run_dir_) / "files", ec);
    if (ec) throw Error(run_dir_, "", "cannot make the run directory: " + ec.message());
    copy_recipe();
    plan_ = plan_sweep(r_, run_dir_);
    const size_t n = plan_.cells.size();
    state_.assign(n, State::Pending);
    error_.assign(n, "");
    for (size_t i = 0; i < n; ++i)
      if (sweep_cell_done(plan_, plan_.cells[i])) state_[i] = State::Reused;
    start_ = t0;

    std::unique_lock<std::mutex> lock(mu_);
    write_status();
    report();
    std::vector<std::thread> workers;
    int running = 0;
    for (;;) {
      block_failed_dependents();
      // Start every ready cell while a slot is free, in plan order.
      for (size_t i = 0; i < n && running < parallel_; ++i) {
        if (state_[i] != State::Pending || !ready(i)) continue;
        state_[i] = State::Running;
        ++running;
        const int threads = std::max(1, total_threads_ / parallel_);
        workers.emplace_back([this, i, threads, &running] {
          ojson result;
          std::string err;
          const auto c0 = std::chrono::steady_clock::now();
          try {
            remove_partial_outputs(plan_.cells[i]);
            result = run_sweep_cell(r_, plan_, i, threads);
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
            write_result(plan_.cells[i], result, secs, threads);
          } catch (const std::exception& e) {
            err = e.what();
            remove_partial_outputs(plan_.cells[i]);
          }
          std::lock_guard<std::mutex> g(mu_);
          state_[i] = err.empty() ? State::Done : State::Failed;
          error_[i] = err;
          --running;
          cv_.notify_all();
        });
        write_status();
        report();
      }
      if (running == 0) break;
      cv_.wait(lock);
      write_status();
      report();
    }
    lock.unlock();
    for (auto& w : workers) w.join();
    lock.lock();
    block_failed_dependents();
    write_status();
    report();

    SweepSummary s;
    s.run_dir = run_dir_;
    s.cells = n;
    for (State st : state_) {
      s.reused += st == State::Reused;
      s.computed += st == State::Done;
      s.failed += st == State::Failed;
      s.blocked += st == State::Blocked || st == State::Pending;
    }
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.status = status_json();
    return s;
  }

 private:
  bool finished_ok(size_t i) const { return state_[i] == State::Reused || state_[i] == State::Done; }
  bool ready(size_t i) const {
    for (size_t d : plan_.cells[i].deps)
      if (!finished_ok(d)) return false;
    return true;
  }
  void block_failed_dependents() {
    for (size_t i = 0; i < plan_.cells.size(); ++i) {  // deps come first, so one pass suffices
      if (state_[i] != State::Pending) continue;
      for (size_t d : plan_.cells[i].deps)
        if (state_[d] == State::Failed || state_[d] == State::Blocked) {
          state_[i] = State::Blocked;
          error_[i] = "needs " + plan_.cells[d].id + ", which " + (state_[d] == State::Failed ? "failed" : "is blocked");
        }
    }
  }

  void copy_recipe() {
    std::ifstream in(r_.path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    write_file_atomic((fs::path(run_dir_) / "recipe.yaml").string(), s.data(), s.size());
  }

  void write_result(const SweepCell& c, ojson result, double seconds, int threads) const {
    ojson j;
    j["cell"] = c.id;
    j["kind"] = cell_kind_name(c.kind);
    j["key"] = c.key;
    j["model"] = r_.models[c.model].name;
    if (c.quantize >= 0) j["config"] = r_.quantize[size_t(c.quantize)].name;
    if (c.evaluation >= 0) j["evaluation"] = r_.evaluations[size_t(c.evaluation)].name;
    if (c.calibration >= 0) j["calibration"] = r_.calibration[size_t(c.calibration)].name;
    j["decides"] = c.decides;
    j["inputs"] = result["inputs"];
    if (result.contains("output")) j["output"] = result["output"];
    j["figures"] = result["figures"];
    // Everything above is the same on every run of the cell; "run" is how this run went.
    j["run"] = {{"seconds", seconds}, {"threads", threads}, {"process_peak_rss_mib", peak_rss_mib()},
                {"parallel", parallel_}, {"quantlab", QUANTLAB_VERSION}, {"commit", quantlab_commit()},
                {"finished_at", utc_now()}};
    write_json_atomic(plan_.cell_path(c), j);
  }

  ojson status_json() const {
    ojson cells = ojson::array();
    size_t counts[6] = {};
    for (size_t i = 0; i < plan_.cells.size(); ++i) {
      const SweepCell& c = plan_.cells[i];
      ++counts[size_t(state_[i])];
      ojson j{{"cell", c.id}, {"kind", cell_kind_name(c.kind)}, {"key", c.key}, {"status", state_name(state_[i])},
              {"model", r_.models[c.model].name}};
      if (c.quantize >= 0) j["config"] = r_.quantize[size_t(c.quantize)].name;
      if (c.evaluation >= 0) j["evaluation"] = r_.evaluations[size_t(c.evaluation)].name;
      if (finished_ok(i)) j["result"] = fs::path(plan_.cell_path(c)).lexically_relative(run_dir_).string();
      if (c.writes_file) j["file"] = fs::path(c.file).lexically_relative(run_dir_).string();
      if (!error_[i].empty()) j["error"] = error_[i];
      cells.push_back(std::move(j));
    }
    ojson counts_j;
    for (State s : {State::Pending, State::Running, State::Reused, State::Done, State::Failed, State::Blocked})
      counts_j[state_name(s)] = counts[size_t(s)];
    return {{"recipe", r_.path}, {"run_dir", run_dir_}, {"quantlab", QUANTLAB_VERSION}, {"commit", quantlab_commit()},
            {"parallel", parallel_}, {"threads", total_threads_}, {"updated_at", utc_now()}, {"counts", counts_j},
            {"cells", cells}};
  }

  void write_status() const { write_json_atomic((fs::path(run_dir_) / "sweep.json").string(), status_json()); }

  void report() const {
    if (!o_.progress) return;
    SweepProgress p;
    p.total = plan_.cells.size();
    for (size_t i = 0; i < state_.size(); ++i) {
      p.reused += state_[i] == State::Reused;
      p.computed += state_[i] == State::Done;
      p.failed += state_[i] == State::Failed || state_[i] == State::Blocked;
      if (state_[i] == State::Running) p.running += (p.running.empty() ? "" : ", ") + plan_.cells[i].id;
    }
    p.done = p.reused + p.computed + p.failed;
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    // Cells differ a lot in cost (a GPTQ run against a perplexity chunk), so this is rough.
    if (p.computed > 0) p.eta_seconds = p.seconds / double(p.computed) * double(p.total - p.done);
    o_.progress(p);
  }

  const Recipe& r_;
  const SweepOptions& o_;
  std::string run_dir_;
  int parallel_ = 1, total_threads_ = 1;
  SweepPlan plan_;
  std::vector<State> state_;
  std::vector<std::string> error_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

bool sweep_cell_done(const SweepPlan& plan, const SweepCell& cell) {
  const std::string path = plan.cell_path(cell);
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("key", "") != cell.key) return false;
  return !cell.writes_file || fs::exists(cell.file, ec);
}

std::string quantlab_commit() { return QUANTLAB_GIT_COMMIT; }

SweepSummary run_sweep(const Recipe& recipe, const SweepOptions& options) { return Runner(recipe, options).run(); }

}  // namespace quantlab::pipeline
