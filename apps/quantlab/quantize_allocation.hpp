#pragma once
// `quantlab quantize --method gguf --target-bpw B | --target-size S`: per-tensor types chosen by
// measured sensitivity under a size budget (pipeline/bit_allocation.hpp, docs/bit-allocation.md).
#include "args.hpp"

#include <vector>

namespace quantlab::cli {

// Whether the arguments ask for an allocation (either budget flag).
bool wants_allocation(const Args& args);
int run_quantize_allocation(const Args& args);
// The flags only it reads.
std::vector<FlagSpec> quantize_allocation_flags();

}  // namespace quantlab::cli
