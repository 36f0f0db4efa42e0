#include "args.hpp"

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace quantlab::cli {
namespace {

// llama.cpp's one-dash flags (llama-cli, llama-perplexity, llama-bench, llama-imatrix), named so
// that a habit quantlab does not share is refused with what the flag meant there.
const std::map<std::string, std::string>& llama_cpp_short_flags() {
  static const std::map<std::string, std::string> m = {
      {"m", "--model"},         {"f", "--file"},           {"c", "--ctx-size"},       {"n", "--n-predict / --n-gen"},
      {"p", "--prompt / --n-prompt"}, {"t", "--threads"},  {"b", "--batch-size"},     {"ub", "--ubatch-size"},
      {"ngl", "--n-gpu-layers"}, {"r", "--repetitions"},   {"s", "--seed"},           {"o", "--output"},
      {"fa", "--flash-attn"},   {"sm", "--split-mode"},    {"mg", "--main-gpu"},      {"ctk", "--cache-type-k"},
      {"ctv", "--cache-type-v"}, {"e", "--escape"},        {"i", "--interactive"},    {"cnv", "--conversation"},
      {"v", "--verbose"},       {"kf", "--kl-divergence-base"}, {"ts", "--tensor-split"}, {"nkvo", "--no-kv-offload"},
      {"co", "--color"},        {"mmp", "--mmap"},         {"sys", "--system-prompt"}, {"tb", "--threads-batch"},
      {"np", "--parallel"},     {"dev", "--device"},       {"ot", "--override-tensor"}, {"j", "--json-schema"}};
  return m;
}

bool is_long_flag(const std::string& a) { return a.size() > 2 && a.rfind("--", 0) == 0; }
bool is_short_flag(const std::string& a) { return a.size() > 1 && a[0] == '-' && a[1] != '-'; }

}  // namespace

Args::Args(const std::vector<std::string>& argv, std::vector<FlagSpec> spec, PositionalSpec positional)
    : spec_(std::move(spec)) {
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    const bool long_flag = !flags_done && is_long_flag(a);
    const bool short_flag = !flags_done && !long_flag && is_short_flag(a);
    if (!long_flag && !short_flag) {
      if (!flags_done && a == "--") {
        flags_done = true;
        continue;
      }
      if (positional_.size() >= positional.max) {
        if (positional.max == 0)
          throw Error(a, "", "unexpected argument: this command takes no positional arguments (see --help)");
        throw Error(a, "", "unexpected extra argument: this command takes " + positional.usage + " (see --help)");
      }
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(long_flag ? 2 : 1);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const std::string typed = (long_flag ? "--" : "-") + name;
    const FlagSpec* fs = long_flag ? find_long(name) : find_alias(name);
    if (!fs && long_flag) throw Error(typed, "", "unknown flag (see --help)");
    if (!fs) unknown_short(typed);
    auto& slot = values_[fs->name];
    if (fs->takes == Takes::Nothing) {
      if (inline_value) throw Error(typed, "", "takes no value");
      slot.push_back("1");
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argv.size()) throw Error(typed, "", "needs a value");
      inline_value = argv[++i];
    }
    if (fs->takes == Takes::Value && !slot.empty()) throw Error(typed, "", "given twice");
    slot.push_back(*inline_value);
  }
}

const FlagSpec* Args::find_long(const std::string& name) const {
  for (const auto& s : spec_)
    if (s.name == name) return &s;
  return nullptr;
}

const FlagSpec* Args::find_alias(const std::string& alias) const {
  for (const auto& s : spec_)
    if (!s.alias.empty() && s.alias == alias) return &s;
  return nullptr;
}

void Args::unknown_short(const std::string& typed) const {
  const std::string name = typed.substr(1);
  if (find_long(name)) throw Error(typed, "", "unknown flag; did you mean --" + name + "?");
  const auto& habits = llama_cpp_short_flags();
  if (auto it = habits.find(name); it != habits.end())
    throw Error(typed, "", "unknown flag (llama.cpp's " + it->second + "); this command has no such option (see --help)");
  throw Error(typed, "", "unknown flag (quantlab's flags are long, e.g. --threads; see --help)");
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
  errno = 0;
  const long long r = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    throw Error("--" + name, "", "expected an integer, got '" + *v + "'");
  return r;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double r = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || r != r) throw Error("--" + name, "", "expected a number, got '" + *v + "'");
  return r;
}

std::string Args::usage() const {
  std::string s;
  for (const auto& f : spec_) {
    std::string left = "  " + (f.alias.empty() ? std::string(4, ' ') : "-" + f.alias + ", ") + "--" + f.name +
                       (f.takes == Takes::Nothing ? "" : " V");
    if (left.size() < 30) left.resize(30, ' ');
    s += left + " " + f.help + (f.takes == Takes::Values ? " (repeatable)" : "") + "\n";
  }
  return s;
}

}  // namespace quantlab::cli
