#pragma once
// Helpers shared by the io tests: running the Python reference checkers and the CLI.
#include "test_support.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <sys/wait.h>

namespace quantlab::test {

struct CommandResult {
  int status = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a shell command, capturing stdout and stderr separately.
inline CommandResult run_command(const std::string& cmd) {
  static int counter = 0;
  const auto dir = temp_dir("cmd");
  const auto err_path = dir / ("stderr-" + std::to_string(counter++));
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>" + err_path.string()).c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(err_path);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  std::filesystem::remove(err_path);
  return r;
}

inline std::string shell_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

// Empty when the python package(s) can be imported, else the reason to skip.
inline std::string python_missing(const std::string& modules) {
  const auto r = run_command(shell_quote(python()) + " -c " + shell_quote("import " + modules));
  if (r.status == 0) return "";
  std::string last = r.err;  // the traceback's last line says what is missing
  while (!last.empty() && last.back() == '\n') last.pop_back();
  if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
  return python() + " with `" + modules + "` is not available (" + last + ")";
}

inline void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline std::string read_text(const std::filesystem::path& p) {
  const auto b = read_bytes(p);
  return {b.begin(), b.end()};
}

}  // namespace quantlab::test
