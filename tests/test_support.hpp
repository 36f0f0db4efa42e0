#pragma once
// Where tests find real models and data: ../shared beside the checkout (DESIGN.md), and the asset
// cache that tools/fetch-assets fills. A test whose input is genuinely absent skips with a message
// (QUANTLAB_SKIP, never a bare GTEST_SKIP or an early return): outside CI that is a skip; in CI
// ($CI=true) it is a failure unless tests/skip-allowlist.txt names the test, because CI makes
// everything a test needs and a skip there would be a claim left unchecked without a word.
#include "quantlab/core/error.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fnmatch.h>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace quantlab::test {

inline std::filesystem::path source_dir() { return QUANTLAB_SOURCE_DIR; }

inline std::filesystem::path assets_dir() {
  if (const char* env = std::getenv("QUANTLAB_ASSETS")) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/tmp") / ".cache" / "quantlab" / "assets";
}

// $QUANTLAB_SHARED, else ../shared beside the checkout, else the asset cache: tools/fetch-assets
// links what ../shared holds into it with the same layout (models/aidreams260K, data/...), so a
// clone made elsewhere (e.g. of a local checkout) still finds the real models and data.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("QUANTLAB_SHARED")) return env;
  const auto beside = source_dir().parent_path() / "shared";
  return std::filesystem::exists(beside) ? beside : assets_dir();
}

// Path of the quantlab CLI binary built beside the tests.
inline std::filesystem::path cli_path() {
  if (const char* env = std::getenv("QUANTLAB_BIN")) return env;
  return std::filesystem::path(QUANTLAB_BINARY_DIR) / "quantlab";
}

// The Python interpreter of the independent readers (tools/*.py): $QUANTLAB_PYTHON, else the
// project's virtual environment that tools/install-deps makes ($QUANTLAB_VENV, else .venv in the
// checkout), where the pinned versions of tools/requirements.txt live, else python3 on PATH.
inline std::string python() {
  if (const char* env = std::getenv("QUANTLAB_PYTHON"); env && *env) return env;
  const char* venv = std::getenv("QUANTLAB_VENV");
  const auto in_venv = (venv && *venv ? std::filesystem::path(venv) : source_dir() / ".venv") / "bin" / "python3";
  return std::filesystem::exists(in_venv) ? in_venv.string() : "python3";
}

// A path as one word of a shell command line.
inline std::string shell_quote_path(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && (std::string(ci) == "true" || std::string(ci) == "1");
}

// Patterns of tests/skip-allowlist.txt (the first word of each line that is not blank or a comment;
// the rest of the line is the reason), matched against "Suite.Test" as fnmatch globs.
inline bool skip_allowed(const std::string& full_name) {
  std::ifstream in(source_dir() / "tests" / "skip-allowlist.txt");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string pattern;
    if (!(words >> pattern) || pattern[0] == '#') continue;
    if (::fnmatch(pattern.c_str(), full_name.c_str(), 0) == 0) return true;
  }
  return false;
}

inline std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info ? std::string(info->test_suite_name()) + "." + info->name() : std::string("?");
}

// What a skip becomes here: a skip, or in CI a fatal failure unless the allow-list names the test.
inline ::testing::TestPartResult::Type skip_kind() {
  return !in_ci() || skip_allowed(current_test_name()) ? ::testing::TestPartResult::kSkip
                                                      : ::testing::TestPartResult::kFatalFailure;
}

inline std::string skip_header() {
  return skip_kind() == ::testing::TestPartResult::kSkip
             ? std::string()
             : "CI=true: this test could not run and tests/skip-allowlist.txt does not name " + current_test_name() +
                   " (CI must provide its input): ";
}

inline std::filesystem::path temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("quantlab-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(p);
  return p;
}

// n normally distributed values (mean 0, standard deviation `scale`) from a fixed seed.
inline std::vector<float> randoms(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// `f` must throw a quantlab::Error (one line) whose source contains `source` and field contains
// `field`; any other exception type fails the test.
inline void expect_typed(const std::function<void()>& f, const std::string& source, const std::string& field) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error naming " << source << " / " << field;
  } catch (const ::quantlab::Error& e) {
    EXPECT_NE(e.source().find(source), std::string::npos) << "source '" << e.source() << "' in: " << e.what();
    EXPECT_NE(e.field().find(field), std::string::npos) << "field '" << e.field() << "' in: " << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "foreign exception escaped: " << e.what();
  }
}

}  // namespace quantlab::test

// Skips the current test (returns from the test body or SetUp) with the streamed reason; in CI a
// failure unless the allow-list names the test. Use it like GTEST_SKIP: QUANTLAB_SKIP() << why;
#define QUANTLAB_SKIP() \
  return GTEST_MESSAGE_(::quantlab::test::skip_header().c_str(), ::quantlab::test::skip_kind())

// Skips the current test when a real input is absent (never fails silently on its content).
#define QUANTLAB_REQUIRE_FILE(path)                                                   \
  do {                                                                                \
    if (!std::filesystem::exists(path)) QUANTLAB_SKIP() << "input absent: " << (path); \
  } while (0)
