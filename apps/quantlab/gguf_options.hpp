#pragma once
// The GGUF target flags of `quantize` (--type, --pure, --tensor-type, --output-tensor-type,
// --token-embedding-type, --imatrix), shared by --method gguf and --method gptq --type.
#include "args.hpp"

#include "quantlab/quant/gguf_quantize.hpp"
#include "quantlab/quant/imatrix.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>

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
// Throws the one refusal of requantizing: `from` counts the already quantized `what` by source type.
[[noreturn]] void refuse_requantize(const std::string& model_path, const std::map<std::string, int64_t>& from,
                                    const std::string& what, const std::string& remedy);

// The GGUF file llama.cpp-style quantization reads for --model: the model itself when it is a
// GGUF; for a llama2.c checkpoint (with --tokenizer for its vocabulary), its conversion
// (io/llama2c_gguf.hpp) written beside `out_path` and removed again when this object goes, also on
// errors. Any other model is refused with what to do instead.
class GgufSourceFile {
 public:
  GgufSourceFile(const Args& args, const std::string& model_path, const std::string& out_path);
  ~GgufSourceFile();
  GgufSourceFile(const GgufSourceFile&) = delete;
  GgufSourceFile& operator=(const GgufSourceFile&) = delete;
  const std::string& path() const { return path_; }
  bool converted() const { return !temp_.empty(); }

 private:
  std::string path_, temp_;
};

}  // namespace quantlab::cli
