// The quantlab serve command: --port 0 names the port it picked in one stderr line, the server
// answers there, and SIGTERM ends it cleanly (exit status 0).
#include "raw_http.hpp"
#include "test_support.hpp"

#include <csignal>
#include <cstdio>
#include <regex>
#include <sys/wait.h>

namespace quantlab::serve {
namespace {

TEST(ServeCli, PortZeroIsPrintedAndSigtermEndsTheServer) {
  const auto model = test::assets_dir() / "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";
  QUANTLAB_REQUIRE_FILE(model);
  int err[2];
  ASSERT_EQ(::pipe(err), 0);
  const std::string bin = test::cli_path().string(), m = model.string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(err[1], 2);
    ::close(err[0]);
    ::execl(bin.c_str(), bin.c_str(), "serve", "-m", m.c_str(), "--port", "0", "--ctx", "128", "--alias", "tiny",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(err[1]);
  FILE* in = ::fdopen(err[0], "r");
  char line[1024] = {};
  const bool got = std::fgets(line, sizeof line, in) != nullptr;
  std::smatch match;
  const std::string text = line;
  const bool listening = got && std::regex_search(text, match, std::regex("listening on http://127\\.0\\.0\\.1:([0-9]+)"));
  if (listening) {
    const int port = std::stoi(match[1]);
    const test::HttpReply r = test::http(port, "GET", "/v1/models");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body)["data"][0]["id"], "tiny");
    const test::HttpReply c = test::post(port, "/v1/chat/completions",
                                         {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 3}});
    EXPECT_EQ(c.status, 200) << c.body;
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::fclose(in);
  ASSERT_TRUE(listening) << "first stderr line: " << text;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

}  // namespace
}  // namespace quantlab::serve
