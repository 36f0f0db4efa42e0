#pragma once
// Parsers that map a path get the fuzz input through a file in /dev/shm (memory-backed), one per
// process so parallel fuzzing jobs do not collide.
#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace quantlab::fuzz {

inline const std::string& input_path() {
  static const std::string p = "/dev/shm/quantlab-fuzz-" + std::to_string(::getpid());
  return p;
}

inline const std::string& write_input(const uint8_t* data, size_t size) {
  const std::string& p = input_path();
  FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return p;
}

}  // namespace quantlab::fuzz
