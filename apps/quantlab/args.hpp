#pragma once
// Flag parsing for the CLI: each subcommand declares the flags it takes; anything else is an
// error naming the argument (a mistake is never ignored). "--key value" and "--key=value" both
// work; "--" ends the flags. A flag may have a one-letter alias ("-m" for --model), so the short
// flags llama.cpp users type from habit work where they mean the same; any other single-dash word
// is an error that names the long flag to use when there is one.
#include "quantlab/core/error.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace quantlab::cli {

enum class Takes { Nothing, Value, Values };  // --flag, --key v, --key v (repeatable)

struct FlagSpec {
  std::string name;  // without the leading dashes
  Takes takes;
  std::string help;
  std::string alias = {};  // one-dash alias without the dash ("m" for -m), or empty
};

// The positional arguments a command takes: none unless `max` > 0.
struct PositionalSpec {
  std::string usage = {};  // "FILE|DIR", "[FILE]"
  std::string help = {};   // what they are; shown by --help
  size_t max = 0;
};

class Args {
 public:
  // Throws Error naming the first argument that is not a declared flag, a flag without its value,
  // or a positional argument beyond `positional.max`.
  Args(const std::vector<std::string>& argv, std::vector<FlagSpec> spec, PositionalSpec positional = {});

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  std::string require(const std::string& name) const;  // throws naming the missing flag
  std::vector<std::string> all(const std::string& name) const;
  long long get_int(const std::string& name, long long fallback) const;
  double get_double(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }
  const std::vector<FlagSpec>& spec() const { return spec_; }
  std::string usage() const;

 private:
  const FlagSpec* find_long(const std::string& name) const;
  const FlagSpec* find_alias(const std::string& alias) const;
  [[noreturn]] void unknown_short(const std::string& word) const;

  std::vector<FlagSpec> spec_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace quantlab::cli
