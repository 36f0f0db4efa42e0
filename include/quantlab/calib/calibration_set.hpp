#pragma once
// The one entry point the quantizers use (GPTQ, AWQ, imatrix alike): read a dataset, format its
// samples, select and pack them, and say exactly what was used (provenance).
#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/packing.hpp"
#include "quantlab/calib/provenance.hpp"
#include "quantlab/calib/sample_format.hpp"

#include <string>
#include <vector>

namespace quantlab::calib {

struct CalibrationOptions {
  DatasetOptions dataset;
  FormatOptions format;
  PackingOptions packing;
  std::string dataset_name;  // "" : the file name
};

struct CalibrationSet {
  std::vector<PackedSequence> sequences;  // what the model sees, one forward pass each
  PackingStats stats;
  Provenance provenance;
};

CalibrationSet build_calibration_set(const std::string& path, const CalibrationOptions& opt, const TokenizerFn& tok);

// The provenance of using `samples_used` samples of `data` with these options.
Provenance make_provenance(const Dataset& data, const FormatOptions& format, const PackingOptions& packing,
                           size_t samples_used, const std::string& dataset_name = "");

}  // namespace quantlab::calib
