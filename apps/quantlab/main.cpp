// quantlab CLI: a thin layer that parses flags, calls the library and prints.
#include "command.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>

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

std::vector<FlagSpec> command_flags(const Command& c) {
  std::vector<FlagSpec> flags;
  std::set<std::string> names, aliases;
  for (const FlagSpec& f : c.flags) {
    if (!names.insert(f.name).second) continue;  // merged flag lists name some flags twice
    if (!f.alias.empty()) aliases.insert(f.alias);
    flags.push_back(f);
  }
  if (!names.count("json")) flags.push_back({"json", Takes::Nothing, "print one JSON object on stdout"});
  // llama.cpp's short flags for the same things, wherever the command has the flag.
  static const std::pair<const char*, const char*> shared[] = {{"model", "m"}, {"file", "f"}, {"ctx", "c"}, {"threads", "t"}};
  for (const auto& [name, alias] : shared)
    for (FlagSpec& f : flags)
      if (f.name == name && f.alias.empty() && aliases.insert(alias).second) f.alias = alias;
  return flags;
}

}  // namespace quantlab::cli

namespace {

using quantlab::cli::Command;

std::string padded(std::string s, size_t width) {
  if (s.size() < width) s.resize(width, ' ');
  return s;
}

void print_help() {
  std::printf("quantlab %s: quantize LLMs and measure what quantization did to them\n\nCommands:\n",
              QUANTLAB_VERSION);
  for (const auto& c : quantlab::cli::commands()) std::printf("  %s %s\n", padded(c.name, 20).c_str(), c.summary.c_str());
  std::printf("\n`quantlab COMMAND --help` lists a command's flags. Every command takes --json (one JSON object on stdout).\n");
}

void print_command_help(const Command& c) {
  using namespace quantlab::cli;
  std::printf("quantlab %s: %s\n\n", c.name.c_str(), c.summary.c_str());
  std::printf("Usage: quantlab %s [FLAGS]%s\n", c.name.c_str(), c.positional.max ? (" " + c.positional.usage).c_str() : "");
  if (c.positional.max) std::printf("  %s %s\n", padded(c.positional.usage, 28).c_str(), c.positional.help.c_str());
  std::printf("\nFlags:\n%s", Args({}, command_flags(c)).usage().c_str());
  std::printf("  -h, --help                   this help\n");
}

// Commands of several words ("eval ppl", "eval judge score") form groups; a group's words alone list
// its members.
std::vector<const Command*> group_members(const std::string& group) {
  std::vector<const Command*> r;
  for (const auto& c : quantlab::cli::commands())
    if (c.name.rfind(group + " ", 0) == 0) r.push_back(&c);
  return r;
}

// Errors are one line on stderr, whatever the message holds.
std::string one_line(std::string s) {
  for (char& ch : s)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return s;
}

// The members' names after the group's words ("ppl, kld, judge pairwise").
std::string command_words(const std::vector<const Command*>& cs, const std::string& group) {
  std::string s;
  for (const Command* c : cs) s += (s.empty() ? "" : ", ") + c->name.substr(group.size() + 1);
  return s;
}

size_t word_count(const std::string& name) { return size_t(std::count(name.begin(), name.end(), ' ')) + 1; }

std::string joined(const std::vector<std::string>& words, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? " " : "") + words[i];
  return s;
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
    const size_t n = word_count(c.name);
    if (words.size() < n) continue;
    if (joined(words, n) == c.name && n > used) cmd = &c, used = n;
  }
  if (!cmd) {
    // The longest group the words name ("eval judge" before "eval").
    for (size_t n = std::min<size_t>(words.size(), 2); n >= 1; --n) {
      const std::string group = joined(words, n);
      const auto members = group_members(group);
      if (members.empty()) continue;
      const bool help = words.size() > n && (words[n] == "--help" || words[n] == "-h");
      if (words.size() == n || help) {
        std::printf("quantlab %s: subcommands\n\n", group.c_str());
        for (const Command* c : members) std::printf("  %s %s\n", padded(c->name, 20).c_str(), c->summary.c_str());
        std::printf("\n`quantlab %s SUBCOMMAND --help` lists a subcommand's flags.\n", group.c_str());
        return help ? 0 : 2;
      }
      std::fprintf(stderr, "quantlab %s: unknown subcommand '%s' (one of: %s)\n", group.c_str(), words[n].c_str(),
                   command_words(members, group).c_str());
      return 2;
    }
    std::set<std::string> seen;
    for (const auto& c : commands()) seen.insert(c.name.substr(0, c.name.find(' ')));
    std::string names;
    for (const auto& n : seen) names += (names.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "quantlab: unknown command '%s' (one of: %s; see quantlab --help)\n", words[0].c_str(), names.c_str());
    return 2;
  }
  std::vector<std::string> rest(words.begin() + long(used), words.end());
  bool json = false;
  for (const auto& w : rest) {
    if (w == "--") break;
    if (w == "--help" || w == "-h") {
      print_command_help(*cmd);
      return 0;
    }
    if (w == "--json") json = true;
  }
  try {
    Args args(rest, command_flags(*cmd), cmd->positional);
    return cmd->run(args);
  } catch (const quantlab::Error& e) {
    std::fprintf(stderr, "quantlab %s: error: %s\n", cmd->name.c_str(), one_line(e.what()).c_str());
    if (json)
      print_json({{"error", {{"source", e.source()}, {"field", e.field()}, {"message", e.message()}}}});
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quantlab %s: error: %s\n", cmd->name.c_str(), one_line(e.what()).c_str());
    if (json) print_json({{"error", {{"message", e.what()}}}});
    return 1;
  }
}
