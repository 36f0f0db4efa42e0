// Command-line access to the format registry for tools/compare-formats-with-llama-cpp.py (a check
// over much more data than the committed fixtures). Built by that script against a quantlab build:
//   g++ -std=c++20 -O2 -I include tools/format-driver.cpp BUILD/libquantlab.a -o format-driver
// Usage:
//   format-driver quantize NAME N_PER_ROW NROWS IN.f32 IMATRIX.f32|- OUT.bin   (row by row)
//   format-driver dequantize NAME N IN.bin OUT.f32
#include "quantlab/formats/format.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

namespace {

std::vector<char> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const char* path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), std::streamsize(size));
  if (!out) throw std::runtime_error(std::string("cannot write ") + path);
}

std::vector<float> as_floats(const std::vector<char>& bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

}  // namespace

int main(int argc, char** argv) try {
  using namespace quantlab;
  if (argc < 3) throw std::runtime_error("usage: see the comment at the top of format-driver.cpp");
  const FormatTraits& f = *[&] {
    const FormatTraits* found = find_format(argv[2]);
    if (!found) throw std::runtime_error(std::string("unknown format ") + argv[2]);
    return found;
  }();
  if (argc == 8 && std::strcmp(argv[1], "quantize") == 0) {
    if (!f.from_float) throw std::runtime_error("quantlab cannot encode " + std::string(f.name));
    const int64_t n_per_row = std::atoll(argv[3]), nrows = std::atoll(argv[4]);
    const auto input = as_floats(read_file(argv[5]));
    const auto importance = std::strcmp(argv[6], "-") == 0 ? std::vector<float>() : as_floats(read_file(argv[6]));
    if (int64_t(input.size()) != n_per_row * nrows || (!importance.empty() && int64_t(importance.size()) != n_per_row))
      throw std::runtime_error("input sizes do not match");
    const size_t row_size = row_bytes(f.id, n_per_row);
    std::vector<char> out(row_size * size_t(nrows));
    for (int64_t r = 0; r < nrows; ++r)
      f.from_float(input.data() + r * n_per_row, out.data() + size_t(r) * row_size, n_per_row,
                   importance.empty() ? nullptr : importance.data());
    write_file(argv[7], out.data(), out.size());
    return 0;
  }
  if (argc == 6 && std::strcmp(argv[1], "dequantize") == 0) {
    const int64_t n = std::atoll(argv[3]);
    const auto bytes = read_file(argv[4]);
    if (bytes.size() != row_bytes(f.id, n)) throw std::runtime_error("input size does not match");
    std::vector<float> out(static_cast<size_t>(n));
    f.to_float(bytes.data(), out.data(), n);
    write_file(argv[5], out.data(), out.size() * 4);
    return 0;
  }
  throw std::runtime_error("usage: see the comment at the top of format-driver.cpp");
} catch (const std::exception& e) {
  std::cerr << "format-driver: " << e.what() << "\n";
  return 1;
}
