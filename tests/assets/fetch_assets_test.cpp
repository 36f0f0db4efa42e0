// tools/fetch-assets against an offline stand-in of its sources (a local wheel served to pip through
// PIP_FIND_LINKS, a ../shared-like folder): it must assemble chunks, inflate gzip members, link shared
// files, stay offline on a second run, and detect a corrupted cached file by its hash and fetch it again.
#include "test_support.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace fs = std::filesystem;
using quantlab::test::python;
using quantlab::test::shell_quote_path;
using quantlab::test::source_dir;
using quantlab::test::temp_dir;

namespace {

struct Result {
  int status;
  std::string out;  // stdout and stderr together
};

Result run(const std::string& command) {
  Result r{-1, {}};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  r.status = ::pclose(pipe);
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FetchAssets : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run(shell_quote_path(python()) + " -c 'import pip'").status != 0) QUANTLAB_SKIP() << python() << " with pip is absent";
    dir_ = temp_dir("fetch-assets");
    fs::remove_all(dir_);
    const auto made = run(shell_quote_path(python()) + " " + (source_dir() / "tests/assets/fetch_assets_fixture.py").string() + " " +
                          dir_.string());
    ASSERT_EQ(made.status, 0) << made.out;
    cache_ = dir_ / "cache";
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result fetch(const std::string& args) const { return run(fetch_command(args)); }
  std::string fetch_command(const std::string& args) const {
    const std::string env = "QUANTLAB_ASSETS=" + cache_.string() + " QUANTLAB_SHARED=" + (dir_ / "shared").string() +
                            " QUANTLAB_ASSETS_MANIFEST=" + (dir_ / "manifest.json").string() +
                            " PIP_NO_INDEX=1 PIP_NO_CACHE_DIR=1 PIP_FIND_LINKS=" + (dir_ / "wheels").string() + " ";
    return env + shell_quote_path(python()) + " " + (source_dir() / "tools/fetch-assets").string() + " " + args;
  }
  void expect_all_fetched() const {
    EXPECT_EQ(read_file(cache_ / "models/fixture/model.bin"), read_file(dir_ / "expected/model.bin"));
    EXPECT_EQ(read_file(cache_ / "data/fixture/text.txt"), read_file(dir_ / "expected/text.txt"));
    EXPECT_EQ(read_file(cache_ / "data/fixture/plain.bin"), read_file(dir_ / "expected/plain.bin"));
    EXPECT_EQ(read_file(cache_ / "data/fixture/paragraphs.txt"), read_file(dir_ / "expected/paragraphs.txt"));
    EXPECT_TRUE(fs::is_symlink(cache_ / "data/fixture/shared.txt"));
    EXPECT_EQ(read_file(cache_ / "data/fixture/shared.txt"), read_file(dir_ / "expected/shared.txt"));
  }
  void hide_wheels() const { fs::rename(dir_ / "wheels", dir_ / "wheels.hidden"); }
  void restore_wheels() const { fs::rename(dir_ / "wheels.hidden", dir_ / "wheels"); }

  fs::path dir_, cache_;
};

TEST_F(FetchAssets, AssemblesInflatesAndLinksEveryAsset) {
  const auto r = fetch("--quiet");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "");  // quiet means quiet
  expect_all_fetched();
  EXPECT_FALSE(fs::exists(cache_ / ".wheels/quantlab_fixture-1.0-py3-none-any.whl"));  // transport only
}

TEST_F(FetchAssets, SecondRunIsOffline) {
  ASSERT_EQ(fetch("--quiet").status, 0);
  hide_wheels();  // nothing left to download from
  const auto again = fetch("");
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(again.out, "");
  expect_all_fetched();
}

TEST_F(FetchAssets, CorruptedFileIsDetectedAndFetchedAgain) {
  ASSERT_EQ(fetch("--quiet").status, 0);
  const fs::path model = cache_ / "models/fixture/model.bin";
  const auto corrupt = [&] {
    const char original = read_file(model)[12345];
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    f.put(char(original ^ 0x55));  // one flipped byte, same size
  };
  corrupt();
  const auto refetched = fetch("");
  ASSERT_EQ(refetched.status, 0) << refetched.out;
  EXPECT_NE(refetched.out.find("models/fixture/model.bin: missing or corrupt, fetching again"), std::string::npos)
      << refetched.out;
  expect_all_fetched();

  corrupt();
  hide_wheels();
  const auto offline = fetch("--quiet");
  EXPECT_NE(offline.status, 0) << "a corrupted file must not pass when it cannot be fetched again";
  EXPECT_NE(offline.out.find("quantlab-fixture==1.0"), std::string::npos) << offline.out;
  EXPECT_FALSE(fs::exists(model)) << "the corrupted file must not stay in the cache";
}

// A clone with no ../shared beside it: the PyPI assets still come, what only ../shared provides is
// named as absent, and only a role asked for by name makes it fail.
TEST_F(FetchAssets, WithoutSharedAGroupGoesOnAndNamesWhatIsAbsent) {
  fs::remove_all(dir_ / "shared");
  const auto r = fetch("--quiet");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("1 asset(s) absent, only ../shared provides them"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("roles s"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(cache_ / "models/fixture/model.bin"), read_file(dir_ / "expected/model.bin"));
  EXPECT_EQ(read_file(cache_ / "data/fixture/paragraphs.txt"), read_file(dir_ / "expected/paragraphs.txt"));
  EXPECT_FALSE(fs::exists(cache_ / "data/fixture/shared.txt"));
  for (const char* ask : {"--print s", "s"}) {
    const auto named = fetch(ask);
    EXPECT_NE(named.status, 0) << ask;
    EXPECT_NE(named.out.find("only ../shared provides it"), std::string::npos) << named.out;
  }
}

TEST_F(FetchAssets, PrintGivesThePathOfTheRole) {
  const auto r = fetch("--print g");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, (cache_ / "data/fixture/text.txt").string() + "\n");
  EXPECT_EQ(read_file(cache_ / "data/fixture/text.txt"), read_file(dir_ / "expected/text.txt"));
}

// ctest -j runs tests that ask for the same roles at once (the sweep tests did, and CI failed on
// it): eight runs started together on an empty cache must all succeed and print the same path.
TEST_F(FetchAssets, RunsAtOnceTakeTurns) {
  const std::string one = "( " + fetch_command("--print g") + " > " + (dir_ / "out.").string() + "$i 2>&1; echo $? >> " +
                          (dir_ / "out.").string() + "$i ) &";
  const auto r = run("for i in 1 2 3 4 5 6 7 8; do " + one + " done; wait");
  ASSERT_EQ(r.status, 0) << r.out;
  for (int i = 1; i <= 8; ++i) {
    EXPECT_EQ(read_file(dir_ / ("out." + std::to_string(i))), (cache_ / "data/fixture/text.txt").string() + "\n0\n")
        << "run " << i;
  }
  EXPECT_EQ(read_file(cache_ / "data/fixture/text.txt"), read_file(dir_ / "expected/text.txt"));
}

TEST_F(FetchAssets, UnknownRoleAndWrongWheelHashFail) {
  const auto unknown = fetch("--print no-such-role");
  EXPECT_NE(unknown.status, 0);
  EXPECT_NE(unknown.out.find("unknown role 'no-such-role'"), std::string::npos) << unknown.out;

  std::string manifest = read_file(dir_ / "manifest.json");
  const auto at = manifest.find("\"sha256\": \"") + 11;  // the wheel's own hash comes first
  manifest[at] = manifest[at] == '0' ? '1' : '0';
  std::ofstream(dir_ / "manifest.json", std::ios::binary) << manifest;
  const auto r = fetch("--quiet");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("quantlab-fixture==1.0: wheel"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(cache_ / "models/fixture/model.bin"));
}

}  // namespace
