#include "args.hpp"

#include <cstdlib>

namespace quantlab::cli {

Args::Args(const std::vector<std::string>& argv, std::vector<FlagSpec> spec) : spec_(std::move(spec)) {
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (flags_done || a.size() < 3 || a.rfind("--", 0) != 0) {
      if (a == "--") flags_done = true;
      else positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* fs = nullptr;
    for (const auto& s : spec_)
      if (s.name == name) fs = &s;
    if (!fs) throw Error("--" + name, "", "unknown flag (see --help)");
    auto& slot = values_[name];
    if (fs->takes == Takes::Nothing) {
      if (inline_value) throw Error("--" + name, "", "takes no value");
      slot.push_back("1");
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argv.size()) throw Error("--" + name, "", "needs a value");
      inline_value = argv[++i];
    }
    if (fs->takes == Takes::Value && !slot.empty()) throw Error("--" + name, "", "given twice");
    slot.push_back(*inline_value);
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::string Args::require(const std::string& name) const {
  if (auto v = get(name)) return *v;
  throw Error("--" + name, "", "is required");
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long long Args::get_int(const std::string& name, long long fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const long long r = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0') throw Error("--" + name, "", "expected an integer, got '" + *v + "'");
  return r;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double r = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0') throw Error("--" + name, "", "expected a number, got '" + *v + "'");
  return r;
}

std::string Args::usage() const {
  std::string s;
  for (const auto& f : spec_) {
    std::string left = "  --" + f.name + (f.takes == Takes::Nothing ? "" : " V");
    if (left.size() < 28) left.resize(28, ' ');
    s += left + " " + f.help + (f.takes == Takes::Values ? " (repeatable)" : "") + "\n";
  }
  return s;
}

}  // namespace quantlab::cli
