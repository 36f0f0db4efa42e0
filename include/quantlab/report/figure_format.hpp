#pragma once
// How advise and report write numbers: the same text in the terminal, the JSON's reason and the
// HTML, independent of the locale (snprintf in the "C" locale the library never changes).
#include <string>

namespace quantlab::report {

std::string human_size(double bytes);            // "100.6 MiB", "2.49 GiB", "312.4 KiB"
std::string significant(double value, int digits = 4);  // "0.03502", "24.62"
std::string percent(double fraction, int decimals = 1);  // 0.423 -> "42.3 %"

}  // namespace quantlab::report
