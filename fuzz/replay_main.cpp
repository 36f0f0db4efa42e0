// Without libFuzzer (the ordinary and the ASan/UBSan builds), each fuzz target is linked with this
// main and replays files: the committed corpus and every finding's reproducer, as a ctest test.
// A crash, a sanitizer report or an exception other than quantlab::Error (uncaught by the target,
// so std::terminate) fails the test.
#include "fuzz_file.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (fs::is_regular_file(argv[i])) {
      files.emplace_back(argv[i]);
    } else {
      std::fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no inputs to replay\n");
    return 2;
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "%s\n", f.c_str());  // the last name printed is the input that failed
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  // The scratch files the targets wrote (fuzz_file.hpp), so CI leaves nothing behind.
  std::error_code ec;
  for (const char* suffix : {"", ".d", ".folder", ".again.gguf"})
    fs::remove_all(quantlab::fuzz::input_path() + suffix, ec);
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
