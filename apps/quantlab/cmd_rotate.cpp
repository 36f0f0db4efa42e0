// quantlab rotate: a GGUF model with its residual stream rotated by an orthogonal matrix folded
// into the weights (pipeline/rotate_gguf.hpp): the same logits, a plain model llama.cpp runs, and
// weights with their outliers spread out for a following `imatrix` + `quantize`.
#include "command.hpp"
#include "eval_input.hpp"
#include "gguf_options.hpp"

#include "quantlab/core/sha256.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/pipeline/rotate_gguf.hpp"

#include <cstdio>
#include <filesystem>

namespace quantlab::cli {
namespace {

int run_rotate(const Args& args) {
  const std::string model_path = args.require("model"), out = args.require("out");
  pipeline::RotateGgufOptions o;
  const long long seed = args.get_int("seed", 0);
  if (seed < 0) throw Error("--seed", std::to_string(seed), "must not be negative");
  o.seed = uint64_t(seed);
  const std::string type = args.get_or("type", "F32");
  if (type == "F32" || type == "f32") o.type = FormatId::F32;
  else if (type == "F16" || type == "f16") o.type = FormatId::F16;
  else throw Error("--type", type, "a rotated model is written as F32 or F16");
  o.force_random = args.has("random-orthogonal");
  o.fold_only = args.has("fold-only");
  o.threads = thread_count(args);
  std::error_code ec;
  if (std::filesystem::is_directory(out, ec)) throw Error(out, "", "is a folder; --out names the GGUF file to write");
  if (model_file_kind(model_path) == ModelFileKind::HfFolder)
    throw Error(model_path, "", "rotate writes GGUF files from GGUF files: convert the folder with llama.cpp's convert_hf_to_gguf.py first");
  const GgufSourceFile source(args, model_path, out);  // a llama2.c checkpoint (with --tokenizer) as a temporary GGUF
  const pipeline::RotateGgufResult r = pipeline::rotate_gguf(source.path(), out, o);
  if (args.has("json")) {
    print_json({{"command", "rotate"}, {"quantlab", QUANTLAB_VERSION}, {"model", {{"path", model_path}, {"sha256", source.converted() ? sha256_file(model_path) : r.source_sha256}}},
                {"out", out}, {"arch", r.arch}, {"n_embd", r.n_embd}, {"seed", r.seed}, {"construction", r.construction},
                {"hadamard", r.hadamard}, {"type", type}, {"untied_output", r.untied}, {"tensors_rotated", r.tensors_rotated},
                {"tensors_copied", r.tensors_copied}, {"file_size", r.file_size}, {"seconds", r.seconds}});
  } else {
    std::printf("%s -> %s: %s, %s, seed %llu, %lld tensors rotated, %lld copied%s, %.2f MiB, %.1f s\n", model_path.c_str(),
                out.c_str(), r.arch.c_str(), r.construction.c_str(), static_cast<unsigned long long>(r.seed),
                static_cast<long long>(r.tensors_rotated), static_cast<long long>(r.tensors_copied),
                r.untied ? ", output untied from the embedding" : "", double(r.file_size) / 1048576.0, r.seconds);
    if (!r.hadamard && !o.force_random && !o.fold_only)
      std::printf("note: no Hadamard construction of order %lld: a random orthogonal matrix was used instead\n",
                  static_cast<long long>(r.n_embd));
  }
  return 0;
}

QUANTLAB_COMMAND(Command{"rotate",
                         "rotate a GGUF model's residual stream by a (randomized Hadamard) orthogonal matrix folded into "
                         "its weights: same logits, plain GGUF, easier to quantize",
                         {{"model", Takes::Value, "GGUF model with F32/F16/BF16 weights (llama, qwen2, qwen3), or a llama2.c checkpoint with --tokenizer", "m"},
                          {"tokenizer", Takes::Value, "llama2.c tokenizer.bin, for a llama2.c checkpoint"},
                          {"out", Takes::Value, "rotated GGUF to write (atomically)", "o"},
                          {"seed", Takes::Value, "seed of the random signs (or of the random orthogonal matrix); default 0"},
                          {"type", Takes::Value, "F32 (default) or F16: type of the rotated matrices"},
                          {"random-orthogonal", Takes::Nothing, "a random orthogonal matrix even where a Hadamard exists"},
                          {"fold-only", Takes::Nothing, "fold the norms into the linears and rotate nothing (a baseline)"},
                          {"threads", Takes::Value, "worker threads (default: all cores)", "t"}},
                         run_rotate});

}  // namespace
}  // namespace quantlab::cli
