#include "quantlab/pipeline/allocation_budget.hpp"

#include "quantlab/core/error.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace quantlab {
namespace {

// A plain decimal number filling the whole string (no sign, no exponent, no hex, no "inf").
bool parse_number(const std::string& s, double& out) {
  if (s.empty() || s.find_first_not_of("0123456789.") != std::string::npos || s == ".") return false;
  if (s.find('.') != s.rfind('.')) return false;
  out = std::strtod(s.c_str(), nullptr);
  return std::isfinite(out);
}

}  // namespace

AllocationBudget parse_target_bpw(const std::string& value) {
  AllocationBudget b;
  b.kind = AllocationBudget::Kind::Bpw;
  b.flag = "--target-bpw";
  b.value = value;
  b.text = b.flag + " " + value;
  if (!parse_number(value, b.bpw) || b.bpw <= 0 || b.bpw > 64)
    throw Error("--target-bpw", value, "expected bits per weight, a number above 0 (e.g. 3.5)");
  return b;
}

AllocationBudget parse_target_size(const std::string& value) {
  AllocationBudget b;
  b.kind = AllocationBudget::Kind::FileSize;
  b.flag = "--target-size";
  b.value = value;
  b.text = b.flag + " " + value;
  size_t end = value.size();
  while (end > 0 && std::isalpha(static_cast<unsigned char>(value[end - 1]))) --end;
  std::string unit = value.substr(end);
  for (char& c : unit) c = char(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KB") scale = 1e3;
  else if (unit == "M" || unit == "MB") scale = 1e6;
  else if (unit == "G" || unit == "GB") scale = 1e9;
  else if (unit == "T" || unit == "TB") scale = 1e12;
  else if (unit == "KIB") scale = 1024.0;
  else if (unit == "MIB") scale = 1024.0 * 1024;
  else if (unit == "GIB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "TIB") scale = 1024.0 * 1024 * 1024 * 1024;
  double n = 0;
  if (scale == 0 || !parse_number(value.substr(0, end), n) || n <= 0 || n * scale >= 1.8e19)
    throw Error("--target-size", value, "expected a file size such as 2.5GiB, 700MiB, 90MB or a byte count");
  b.bytes = uint64_t(std::floor(n * scale));  // down: the budget is a ceiling
  if (b.bytes == 0) throw Error("--target-size", value, "less than one byte");
  return b;
}

}  // namespace quantlab
