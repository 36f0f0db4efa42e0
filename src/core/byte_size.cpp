#include "quantlab/core/byte_size.hpp"
#include "quantlab/core/error.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace quantlab {

double parse_byte_size(std::string_view text, std::string_view field) {
  const auto fail = [&](const std::string& why) -> double {
    throw Error(std::string(field), std::string(text), why + " (a size such as 64GiB, 512MiB, 8G or a number of bytes)");
  };
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin) return fail("not a size");
  std::string unit(ptr, end);
  for (char& ch : unit) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "k" || unit == "kib") scale = 1024.0;
  else if (unit == "m" || unit == "mib") scale = 1024.0 * 1024.0;
  else if (unit == "g" || unit == "gib") scale = 1024.0 * 1024.0 * 1024.0;
  else if (unit == "t" || unit == "tib") scale = 1024.0 * 1024.0 * 1024.0 * 1024.0;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else return fail("unknown unit '" + std::string(ptr, end) + "'");
  const double bytes = value * scale;
  if (!std::isfinite(bytes) || !(bytes > 0)) return fail("must be a positive size");
  return bytes;
}

}  // namespace quantlab
