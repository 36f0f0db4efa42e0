#pragma once
// Parsers that map a path get the fuzz input through a file in /dev/shm (memory-backed; the temp
// folder where there is none), one per process so parallel fuzzing jobs do not collide. Inputs that stand for several files (a template
// and a conversation, a folder of config.json and model.safetensors) are split at NUL bytes: text
// parts come first, a binary part last (it may hold NULs itself).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace quantlab::fuzz {

inline const std::string& input_path() {
  static const std::string p =
      (std::filesystem::is_directory("/dev/shm") ? std::string("/dev/shm") : std::filesystem::temp_directory_path().string()) +
      "/quantlab-fuzz-" + std::to_string(::getpid());
  return p;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
}

inline void write_file(const std::string& path, std::string_view text) {
  write_file(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

inline const std::string& write_input(const uint8_t* data, size_t size) {
  const std::string& p = input_path();
  write_file(p, data, size);
  return p;
}

// The input as a file named `name` inside this process's scratch folder (a reader that picks the
// format by extension needs the right one).
inline std::string write_named(const std::string& name, const uint8_t* data, size_t size) {
  const std::string dir = input_path() + ".d";
  std::filesystem::create_directories(dir);
  const std::string p = dir + "/" + name;
  write_file(p, data, size);
  return p;
}

// The first `n - 1` NUL-terminated parts, then the rest (missing parts are empty).
inline std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t n) {
  std::vector<std::string_view> parts;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (parts.size() + 1 < n) {
    const size_t z = rest.find('\0');
    if (z == std::string_view::npos) break;
    parts.push_back(rest.substr(0, z));
    rest.remove_prefix(z + 1);
  }
  parts.push_back(rest);
  while (parts.size() < n) parts.emplace_back();
  return parts;
}

// A fresh, empty folder for inputs that are folders.
inline std::string fresh_folder() {
  const std::string dir = input_path() + ".folder";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace quantlab::fuzz
