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

// llama-quantize's rule: tensors that are already quantized are quantized again only with
// --allow-requantize, since rounding rounded values loses more than quantizing the F16/F32
// original (and can give a larger file: Q4_1 -> Q4_K_M keeps 4.5-6 bpw of a 5 bpw source's
// errors). Dequantizing (an F32/F16/BF16 target) and copying a tensor in its own type stay
// allowed. Throws Error naming the model otherwise; returns how many tensors are requantized.
int64_t check_requantize(const Args& args, const std::string& model_path, const std::vector<GgufTensorPlan>& plan);

}  // namespace quantlab::cli
