#pragma once
// The GGUF target flags of `quantize` (--type, --pure, --tensor-type, --output-tensor-type,
// --token-embedding-type, --imatrix), shared by --method gguf and --method gptq --type.
#include "args.hpp"

#include "quantlab/quant/gguf_quantize.hpp"
#include "quantlab/quant/imatrix.hpp"

#include <nlohmann/json.hpp>

namespace quantlab::cli {

// Fills `o` (o.imatrix points at `imatrix` when --imatrix is given) and returns the parameters as
// recorded in quantlab.params.
nlohmann::json gguf_options_from_args(const Args& args, GgufQuantizeOptions& o, Imatrix& imatrix);

}  // namespace quantlab::cli
