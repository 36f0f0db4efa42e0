#pragma once
// Importance matrix: per linear weight, the sum of squared input activations per input column
// (and the number of tokens), as llama.cpp's imatrix tool collects it. llama-quantize weighs each
// column's rounding error by the mean x² = sum_x2 / count. Files are read and written in both of
// llama.cpp's formats: the GGUF one (`<name>.in_sum2`, `<name>.counts`, imatrix.* metadata) and the
// legacy `.dat` one.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace quantlab {

struct ImatrixEntry {
  std::vector<double> sum_x2;  // per input column
  std::vector<double> sum_x;   // per input column (GGUF format only; empty if unknown)
  int64_t count = 0;           // tokens seen
};

struct Imatrix {
  std::map<std::string, ImatrixEntry> entries;  // by weight name, e.g. "blk.0.attn_q.weight"
  std::vector<std::string> datasets;
  std::string dataset_sha256;  // of the calibration text (quantlab's own key; empty if unknown)
  std::string calibration;     // calibration provenance as JSON (quantlab's own key; "" for plain chunks)
  int64_t chunk_count = 0;
  int64_t chunk_size = 0;

  // Accumulates the activations x [tokens, n] seen at the input of weight `name`.
  void add(const std::string& name, const float* x, int64_t tokens, int64_t n);
  // Mean x² per column, the importance weights llama-quantize uses; empty if `name` is absent.
  std::vector<float> importance(const std::string& name) const;
};

// Reads either format (detected by the GGUF magic). Throws quantlab::Error naming file and field.
Imatrix read_imatrix(const std::string& path);
// Legacy .dat: values are stored as mean x² times ncall (ncall = ceil(count / chunk_size)).
void write_imatrix_dat(const Imatrix& m, const std::string& path);
// llama.cpp's GGUF format: general.type = "imatrix", imatrix.datasets/chunk_count/chunk_size, and
// per weight (sorted by name) `<name>.in_sum2` [n, 1] and `<name>.counts` [1, 1], all f32; plus
// quantlab.imatrix.dataset_sha256 and quantlab.imatrix.calibration when known. Written atomically.
void write_imatrix_gguf(const Imatrix& m, const std::string& path);
// By the file name: ".dat" writes the legacy format, anything else GGUF.
void write_imatrix(const Imatrix& m, const std::string& path);

}  // namespace quantlab
