// quantlab CLI: a thin layer that parses flags, calls the library and prints.
#include "command.hpp"

#include <cstdio>
#include <iostream>

namespace quantlab::cli {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
bool register_command(Command c) {
  registry().push_back(std::move(c));
  return true;
}
const std::vector<Command>& commands() { return registry(); }

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

}  // namespace quantlab::cli

namespace {

void print_help() {
  std::printf("quantlab %s: quantize LLMs and measure what quantization did to them\n\nCommands:\n",
              QUANTLAB_VERSION);
  for (const auto& c : quantlab::cli::commands()) {
    std::string n = c.name;
    if (n.size() < 18) n.resize(18, ' ');
    std::printf("  %s %s\n", n.c_str(), c.summary.c_str());
  }
  std::printf("\n`quantlab COMMAND --help` lists a command's flags. Every command takes --json.\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace quantlab::cli;
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_help();
    return words.empty() ? 2 : 0;
  }
  if (words[0] == "--version") {
    std::printf("quantlab %s\n", QUANTLAB_VERSION);
    return 0;
  }
  // Longest match first: "eval ppl" before "eval".
  const Command* cmd = nullptr;
  size_t used = 0;
  for (const auto& c : commands()) {
    const size_t n = c.name.find(' ') == std::string::npos ? 1 : 2;
    if (words.size() < n) continue;
    const std::string joined = n == 1 ? words[0] : words[0] + " " + words[1];
    if (joined == c.name && n > used) cmd = &c, used = n;
  }
  if (!cmd) {
    std::fprintf(stderr, "quantlab: unknown command '%s' (see quantlab --help)\n", words[0].c_str());
    return 2;
  }
  std::vector<std::string> rest(words.begin() + used, words.end());
  bool json = false;
  for (const auto& w : rest) {
    if (w == "--help" || w == "-h") {
      std::printf("quantlab %s: %s\n\n", cmd->name.c_str(), cmd->summary.c_str());
      auto flags = cmd->flags;
      flags.push_back({"json", Takes::Nothing, "print one JSON object on stdout"});
      std::printf("%s", Args({}, flags).usage().c_str());
      return 0;
    }
    if (w == "--json") json = true;
  }
  try {
    auto flags = cmd->flags;
    flags.push_back({"json", Takes::Nothing, "print one JSON object on stdout"});
    Args args(rest, flags);
    return cmd->run(args);
  } catch (const quantlab::Error& e) {
    std::fprintf(stderr, "quantlab %s: error: %s\n", cmd->name.c_str(), e.what());
    if (json)
      print_json({{"error", {{"source", e.source()}, {"field", e.field()}, {"message", e.message()}}}});
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quantlab %s: error: %s\n", cmd->name.c_str(), e.what());
    if (json) print_json({{"error", {{"message", e.what()}}}});
    return 1;
  }
}
