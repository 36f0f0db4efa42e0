#include "gguf_options.hpp"

#include "eval_input.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/model/model.hpp"

#include <cctype>
#include <filesystem>
#include <map>
#include <string>

namespace quantlab::cli {
namespace {

FormatId format_flag(const std::string& flag, const std::string& name) {
  const FormatTraits* t = find_format(name);
  if (!t || int(t->id) >= 1000) throw Error("--" + flag, name, "not a GGUF tensor type");
  return t->id;
}

}  // namespace

nlohmann::json gguf_options_from_args(const Args& args, GgufQuantizeOptions& o, Imatrix& imatrix) {
  o.target = parse_gguf_target(args.require("type"));
  o.pure = args.has("pure");
  o.threads = thread_count(args);
  for (const std::string& spec : args.all("tensor-type")) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) throw Error("--tensor-type", spec, "expected PATTERN=TYPE");
    std::string pattern = spec.substr(0, eq);  // lower-cased, as llama-quantize does
    for (char& c : pattern) c = char(std::tolower(static_cast<unsigned char>(c)));
    o.tensor_type_overrides.emplace_back(pattern, format_flag("tensor-type", spec.substr(eq + 1)));
  }
  if (auto t = args.get("output-tensor-type")) o.output_tensor_type = format_flag("output-tensor-type", *t);
  if (auto t = args.get("token-embedding-type")) o.token_embedding_type = format_flag("token-embedding-type", *t);
  if (auto path = args.get("imatrix")) {
    imatrix = read_imatrix(*path);
    o.imatrix = &imatrix;
    o.imatrix_path = *path;
  }
  nlohmann::json params = {{"type", o.target.name}, {"pure", o.pure}};
  if (o.imatrix) params["imatrix"] = o.imatrix_path;
  for (const auto& [p, t] : o.tensor_type_overrides) params["tensor_type"].push_back(p + "=" + std::string(format_traits(t).name));
  if (o.output_tensor_type) params["output_tensor_type"] = std::string(format_traits(*o.output_tensor_type).name);
  if (o.token_embedding_type) params["token_embedding_type"] = std::string(format_traits(*o.token_embedding_type).name);
  return params;
}

GgufSourceFile::GgufSourceFile(const Args& args, const std::string& model_path, const std::string& out_path)
    : path_(model_path) {
  switch (model_file_kind(model_path)) {
    case ModelFileKind::Gguf: return;
    case ModelFileKind::HfFolder:
      throw Error(model_path, "", "GGUF types are made from GGUF files: convert the folder with llama.cpp's convert_hf_to_gguf.py, or quantize it with --method rtn|gptq|awq|nf4|fp4|int8");
    case ModelFileKind::Llama2c: break;
  }
  const auto tok = args.get("tokenizer");
  if (!tok) throw Error(model_path, "", "a llama2.c checkpoint carries no vocabulary: give --tokenizer tokenizer.bin (or run quantlab convert first)");
  const Llama2cCheckpoint ck(model_path);
  const GgufWriter w = llama2c_to_gguf(ck, read_llama2c_tokenizer(*tok, ck.config().vocab_size));
  temp_ = out_path + ".source.gguf.tmp";
  w.write(temp_);  // atomic: nothing to remove when it throws
  path_ = temp_;
}

GgufSourceFile::~GgufSourceFile() {
  std::error_code ec;
  if (!temp_.empty()) std::filesystem::remove(temp_, ec);
}

int64_t check_requantize(const Args& args, const std::string& model_path, const std::vector<GgufTensorPlan>& plan) {
  int64_t n = 0;
  std::map<std::string, int64_t> from;  // source type -> tensors requantized from it
  for (const GgufTensorPlan& p : plan) {
    if (p.from == p.to || !format_traits(p.from).is_quantized || !format_traits(p.to).is_quantized) continue;
    ++n;
    ++from[std::string(format_traits(p.from).name)];
  }
  if (n == 0 || args.has("allow-requantize")) return n;
  refuse_requantize(model_path, from, "tensors", "quantize the original, dequantize first (--type F32), or pass --allow-requantize");
}

void refuse_requantize(const std::string& model_path, const std::map<std::string, int64_t>& from, const std::string& what,
                       const std::string& remedy) {
  std::string types;
  int64_t n = 0;
  for (const auto& [t, k] : from) types += (types.empty() ? "" : ", ") + std::to_string(k) + " " + t, n += k;
  throw Error(model_path, "", std::to_string(n) + " " + what + " are already quantized (" + types +
                                  "): quantizing them again rounds rounded values and loses more than quantizing the "
                                  "F16/F32 original would; " + remedy);
}

}  // namespace quantlab::cli
