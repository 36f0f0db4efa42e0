// The skip policy of tests/test_support.hpp: outside CI a test whose input is absent skips; in CI
// ($CI=true) the same skip is a failure unless tests/skip-allowlist.txt names the test; and no test
// skips any other way (a bare GTEST_SKIP would escape the allow-list).
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using namespace quantlab::test;

namespace {

// Sets $CI for the scope of one check, restoring what was there.
class CiEnv {
 public:
  explicit CiEnv(const char* value) {
    if (const char* old = std::getenv("CI")) old_ = old, had_ = true;
    if (value) ::setenv("CI", value, 1); else ::unsetenv("CI");
  }
  ~CiEnv() {
    if (had_) ::setenv("CI", old_.c_str(), 1); else ::unsetenv("CI");
  }

 private:
  std::string old_;
  bool had_ = false;
};

TEST(SkipPolicy, OutsideCiASkipIsASkip) {
  CiEnv ci(nullptr);
  EXPECT_FALSE(in_ci());
  EXPECT_EQ(skip_kind(), ::testing::TestPartResult::kSkip);
  EXPECT_EQ(skip_header(), "");
}

TEST(SkipPolicy, InCiASkipNotOnTheAllowListFails) {
  CiEnv ci("true");
  EXPECT_TRUE(in_ci());
  EXPECT_EQ(skip_kind(), ::testing::TestPartResult::kFatalFailure);
  EXPECT_NE(skip_header().find("SkipPolicy.InCiASkipNotOnTheAllowListFails"), std::string::npos) << skip_header();
}

TEST(SkipPolicy, AllowListMatchesGlobsOnFullNames) {
  std::ifstream in(source_dir() / "tests" / "skip-allowlist.txt");
  ASSERT_TRUE(in) << "tests/skip-allowlist.txt is missing";
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string pattern, reason;
    if (!(words >> pattern) || pattern[0] == '#') continue;
    std::getline(words, reason);
    EXPECT_NE(reason.find_first_not_of(" \t"), std::string::npos) << "no reason given for " << pattern;
    EXPECT_FALSE(skip_allowed("SkipPolicy.NotAllowed")) << pattern << " allows every test";
  }
}

// Every skip goes through QUANTLAB_SKIP / QUANTLAB_REQUIRE_FILE.
TEST(SkipPolicy, NoTestSkipsAroundThePolicy) {
  const std::regex bare(R"(GTEST_SKIP\s*\()");
  for (const auto& e : fs::recursive_directory_iterator(source_dir() / "tests")) {
    const auto ext = e.path().extension();
    if (!e.is_regular_file() || (ext != ".cpp" && ext != ".hpp") || e.path().filename() == "test_support.hpp") continue;
    std::ifstream f(e.path());
    std::string line;
    for (int n = 1; std::getline(f, line); ++n)
      EXPECT_FALSE(std::regex_search(line, bare)) << e.path() << ":" << n << ": use QUANTLAB_SKIP() (tests/test_support.hpp)";
  }
}

}  // namespace
