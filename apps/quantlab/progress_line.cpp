#include "progress_line.hpp"

#include <unistd.h>

#include <cstdio>

namespace quantlab::cli {

ProgressLine::ProgressLine(std::string label)
    : label_(std::move(label)), enabled_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

void ProgressLine::update(int64_t done, int64_t total, const std::string& what) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = done > 0 ? elapsed * double(total - done) / double(done) : 0.0;
  std::fprintf(stderr, "\r\033[K%s %lld/%lld %s  %.0fs elapsed", label_.c_str(), static_cast<long long>(done + 1),
               static_cast<long long>(total), what.c_str(), elapsed);
  if (done > 0) std::fprintf(stderr, ", ETA %.0fs", eta);
  std::fflush(stderr);
  dirty_ = true;
}

void ProgressLine::finish() {
  if (enabled_ && dirty_) std::fprintf(stderr, "\r\033[K");
  dirty_ = false;
}

}  // namespace quantlab::cli
