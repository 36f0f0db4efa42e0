#pragma once
// Subcommands register themselves (one file each under apps/quantlab/), so adding a command edits
// no shared list. A command returns the process exit code; errors are thrown as quantlab::Error.
#include "args.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace quantlab::cli {

struct Command {
  std::string name;     // "inspect", "eval ppl" (two words for grouped commands)
  std::string summary;  // one line for `quantlab --help`
  std::vector<FlagSpec> flags;
  int (*run)(const Args& args);
  PositionalSpec positional = {};  // none unless given; shown by --help
};

// A command's full flag list as parsed and shown: its own flags, --json once, and the one-letter
// aliases every command shares where it has the flag (-m --model, -f --file, -c --ctx, -t --threads).
std::vector<FlagSpec> command_flags(const Command& c);

bool register_command(Command c);
const std::vector<Command>& commands();

// Prints the one JSON object of a --json run on stdout (DESIGN.md: runs are data).
void print_json(const nlohmann::json& j);

}  // namespace quantlab::cli

#define QUANTLAB_CONCAT_INNER(a, b) a##b
#define QUANTLAB_CONCAT(a, b) QUANTLAB_CONCAT_INNER(a, b)
#define QUANTLAB_COMMAND(...) \
  static const bool QUANTLAB_CONCAT(quantlab_command_, __LINE__) = ::quantlab::cli::register_command(__VA_ARGS__)
