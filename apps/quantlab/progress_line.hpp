#pragma once
// "label i/N name, ETA" on stderr, rewritten in place; silent when stderr is not a terminal, so
// logs and pipes stay clean.
#include <chrono>
#include <cstdint>
#include <string>

namespace quantlab::cli {

class ProgressLine {
 public:
  explicit ProgressLine(std::string label);
  void update(int64_t done, int64_t total, const std::string& what = {});
  void finish();

 private:
  std::string label_;
  bool enabled_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace quantlab::cli
