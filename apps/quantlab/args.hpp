#pragma once
// Flag parsing for the CLI: each subcommand declares the flags it takes; anything else is an
// error naming the flag. "--key value" and "--key=value" both work; "--" ends the flags.
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
};

class Args {
 public:
  Args(const std::vector<std::string>& argv, std::vector<FlagSpec> spec);

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
  std::vector<FlagSpec> spec_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace quantlab::cli
