#pragma once
// `quantlab quantize` for the layer-sequential methods (rtn, gptq, awq, nf4, fp4, int8). A separate
// function so a method-dispatch table of `quantize` can hand these methods to it.
#include "args.hpp"

#include <vector>

namespace quantlab::cli {

int run_quantize_calibrated(const Args& args);
// The flags it reads (for a dispatcher that merges flag lists).
std::vector<FlagSpec> quantize_calibrated_flags();

}  // namespace quantlab::cli
