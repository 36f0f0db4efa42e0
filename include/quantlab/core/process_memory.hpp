#pragma once
// This process's memory as the kernel counts it (Linux): what is resident now, and the most that
// has been (the figures `quantize --json` reports and its memory plan starts from).

namespace quantlab {

inline constexpr double kMiB = 1024.0 * 1024.0;  // reports give memory in MiB

// Resident set now, in bytes (/proc/self/statm); 0 where it cannot be read.
double resident_bytes();
// Peak resident set of the process so far, in bytes (getrusage).
double peak_resident_bytes();

}  // namespace quantlab
