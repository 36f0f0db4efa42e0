#pragma once
// Where tests find real models and data: ../shared beside the checkout (DESIGN.md), and the asset
// cache that tools/fetch-assets fills. A test whose input is genuinely absent skips with a message.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace quantlab::test {

inline std::filesystem::path source_dir() { return QUANTLAB_SOURCE_DIR; }

inline std::filesystem::path assets_dir() {
  if (const char* env = std::getenv("QUANTLAB_ASSETS")) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/tmp") / ".cache" / "quantlab" / "assets";
}

// $QUANTLAB_SHARED, else ../shared beside the checkout, else the asset cache: tools/fetch-assets
// links what ../shared holds into it with the same layout (models/aidreams260K, data/...), so a
// clone made elsewhere (e.g. of a local checkout) still finds the real models and data.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("QUANTLAB_SHARED")) return env;
  const auto beside = source_dir().parent_path() / "shared";
  return std::filesystem::exists(beside) ? beside : assets_dir();
}

// Path of the quantlab CLI binary built beside the tests.
inline std::filesystem::path cli_path() {
  if (const char* env = std::getenv("QUANTLAB_BIN")) return env;
  return std::filesystem::path(QUANTLAB_BINARY_DIR) / "quantlab";
}

inline std::filesystem::path temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("quantlab-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(p);
  return p;
}

}  // namespace quantlab::test

// Skips the current test when a real input is absent (never fails silently on its content).
#define QUANTLAB_REQUIRE_FILE(path)                                                   \
  do {                                                                                \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "input absent: " << (path);   \
  } while (0)
