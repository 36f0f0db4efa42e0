#include "quantlab/core/process_memory.hpp"

#include <cstdio>
#include <sys/resource.h>
#include <unistd.h>

namespace quantlab {

double resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? double(resident) * double(::sysconf(_SC_PAGESIZE)) : 0;
}

double peak_resident_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) * 1024.0;  // Linux reports KiB
}

}  // namespace quantlab
