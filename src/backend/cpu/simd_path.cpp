// Picks the CPU kernels' instruction set once, at run time: QUANTLAB_CPU when set, else the
// widest the CPU supports. Which set runs changes speed only (kernel_table.hpp).
#include "src/backend/cpu/kernel_table.hpp"
#include "quantlab/core/error.hpp"

#include <atomic>
#include <cstdlib>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
#include <mutex>
#include <string>

namespace quantlab::cpu {
namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// F16C from CPUID leaf 1 (ECX bit 29): clang before 16 has no "f16c" for __builtin_cpu_supports.
bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
#endif

bool cpu_has(SimdPath path) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  switch (path) {
    case SimdPath::Portable: return true;
    case SimdPath::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case SimdPath::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni") && cpu_has(SimdPath::Avx2);
  }
  return false;
#else
  return path == SimdPath::Portable;
#endif
}

const KernelTable* table_of(SimdPath path) {
  switch (path) {
    case SimdPath::Portable: return portable_kernels();
    case SimdPath::Avx2: return avx2_kernels();
    case SimdPath::Avx512: return avx512_kernels();
  }
  return nullptr;
}

SimdPath choose() {
  if (const char* env = std::getenv("QUANTLAB_CPU"); env && *env) {
    const std::string v = env;
    SimdPath p;
    if (v == "avx512") p = SimdPath::Avx512;
    else if (v == "avx2") p = SimdPath::Avx2;
    else if (v == "portable") p = SimdPath::Portable;
    else throw Error("QUANTLAB_CPU", "value", "unknown CPU path '" + v + "' (expected avx512, avx2 or portable)");
    if (!simd_path_supported(p))
      throw Error("QUANTLAB_CPU", "value", "this CPU or build cannot run the " + v + " path");
    return p;
  }
  for (SimdPath p : {SimdPath::Avx512, SimdPath::Avx2})
    if (simd_path_supported(p)) return p;
  return SimdPath::Portable;
}

std::atomic<int> g_path{-1};
std::once_flag g_once;

}  // namespace

const char* simd_path_name(SimdPath path) {
  switch (path) {
    case SimdPath::Portable: return "portable";
    case SimdPath::Avx2: return "avx2";
    case SimdPath::Avx512: return "avx512";
  }
  return "?";
}

bool simd_path_supported(SimdPath path) { return table_of(path) != nullptr && cpu_has(path); }

SimdPath simd_path() {
  std::call_once(g_once, [] {
    int expected = -1;
    g_path.compare_exchange_strong(expected, int(choose()));
  });
  return SimdPath(g_path.load(std::memory_order_relaxed));
}

void force_simd_path(SimdPath path) {
  if (!simd_path_supported(path))
    throw Error("", "cpu", std::string("this CPU or build cannot run the ") + simd_path_name(path) + " path");
  std::call_once(g_once, [] {});  // a later first use must not overwrite the forced choice
  g_path.store(int(path), std::memory_order_relaxed);
}

const KernelTable& kernels() { return *table_of(simd_path()); }

}  // namespace quantlab::cpu
