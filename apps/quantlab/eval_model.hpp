#pragma once
// The model an `eval` command evaluates: anything load_model reads, and also the GPTQ/AWQ Hugging
// Face folders that `quantize --method gptq|awq --out DIR` writes (their config.json carries a
// quantization_config), reloaded through pipeline::load_quantized_export to the same logits as the
// in-memory quantized model.
#include "quantlab/model/model.hpp"

#include <string>

namespace quantlab::cli {

Model load_eval_model(const std::string& path);

}  // namespace quantlab::cli
