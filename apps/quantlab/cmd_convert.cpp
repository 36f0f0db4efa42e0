// quantlab convert: a llama2.c checkpoint and its tokenizer.bin -> a GGUF file that llama.cpp
// loads, laid out as llama.cpp's convert-llama2c-to-ggml writes it (io/llama2c_gguf.hpp).
#include "command.hpp"

#include "quantlab/core/sha256.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/model/model.hpp"

#include <cstdio>
#include <filesystem>

namespace quantlab::cli {
namespace {

int run_convert(const Args& args) {
  const std::string model_path = args.require("model");
  const std::string tokenizer_path = args.require("tokenizer");
  const std::string out = args.require("out");
  switch (model_file_kind(model_path)) {
    case ModelFileKind::Llama2c: break;
    case ModelFileKind::Gguf: throw Error(model_path, "", "is already a GGUF file (convert reads llama2.c checkpoints)");
    case ModelFileKind::HfFolder:
      throw Error(model_path, "", "Hugging Face folders are read as they are by every command; convert reads llama2.c checkpoints");
  }
  std::error_code ec;
  if (std::filesystem::is_directory(out, ec)) throw Error(out, "", "is a folder; --out names the GGUF file to write");
  if (std::filesystem::exists(out, ec) && std::filesystem::equivalent(out, model_path, ec))
    throw Error(out, "", "output would overwrite the input");
  const Llama2cCheckpoint ck(model_path);
  const Llama2cVocab vocab = read_llama2c_tokenizer(tokenizer_path, ck.config().vocab_size);
  llama2c_to_gguf(ck, vocab).write(out);  // atomic: on any error no file appears
  const auto size = std::filesystem::file_size(out);
  if (args.has("json")) {
    print_json({{"command", "convert"}, {"model", model_path}, {"tokenizer", tokenizer_path}, {"out", out},
                {"file_size", size}, {"sha256", sha256_file(out)}, {"n_vocab", vocab.pieces.size()}});
  } else {
    std::printf("%s + %s -> %s (GGUF, f32, %zu tokens, %.2f MiB)\n", model_path.c_str(), tokenizer_path.c_str(),
                out.c_str(), vocab.pieces.size(), double(size) / 1048576.0);
  }
  return 0;
}

QUANTLAB_COMMAND(Command{"convert",
                         "llama2.c checkpoint + tokenizer.bin -> GGUF (as llama.cpp's convert-llama2c-to-ggml writes it)",
                         {{"model", Takes::Value, "llama2.c checkpoint (.bin)"},
                          {"tokenizer", Takes::Value, "llama2.c tokenizer.bin (its vocabulary goes into the GGUF)"},
                          {"out", Takes::Value, "GGUF file to write (atomically)", "o"}},
                         run_convert});

}  // namespace
}  // namespace quantlab::cli
