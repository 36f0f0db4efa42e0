#pragma once
// The size budget of a bit allocation, as the user states it:
//  --target-bpw B    bits per weight as llama.cpp and `quantize` print them: 8 x (all tensor data
//                    bytes) / (all tensor elements), norms and other unquantized tensors included;
//  --target-size S   the whole output file in bytes (header, metadata and padding included):
//                    "2.5GiB", "700MiB", "90MB", "123456789" (binary units with i, decimal without).
#include <cstdint>
#include <string>

namespace quantlab {

struct AllocationBudget {
  enum class Kind { Bpw, FileSize } kind = Kind::Bpw;
  double bpw = 0;       // Kind::Bpw
  uint64_t bytes = 0;   // Kind::FileSize
  std::string flag;     // "--target-bpw" or "--target-size"
  std::string value;    // as given: "3.5"
  std::string text;     // both: "--target-bpw 3.5"
};

// Throw Error naming the flag for anything that is not a positive finite number / size.
AllocationBudget parse_target_bpw(const std::string& value);
AllocationBudget parse_target_size(const std::string& value);

}  // namespace quantlab
