// quantlab tokenize: text -> token ids (or ids -> text with --decode) with a model's tokenizer.
#include "command.hpp"
#include "token_ids.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/text/tokenizer.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace quantlab::cli {
namespace {

std::string read_input(const Args& args) {
  if (args.positional().size() > 1) throw Error("FILE", "", "at most one input file");
  if (args.positional().empty() || args.positional()[0] == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  const std::string& path = args.positional()[0];
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int run_tokenize(const Args& args) {
  const Tokenizer tok = Tokenizer::load(args.require("model"));
  const bool special = !args.has("no-special");
  const std::string input = read_input(args);
  const std::string source = args.positional().empty() || args.positional()[0] == "-" ? "stdin" : args.positional()[0];

  if (args.has("decode")) {
    const std::string text = tok.decode(parse_token_ids(input, source), /*skip_special=*/!special);
    if (args.has("json")) print_json({{"text", text}});
    else std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  const std::vector<int32_t> ids = tok.encode(input, /*add_special=*/special, /*parse_special=*/special);
  if (args.has("json")) {
    print_json({{"ids", ids}});
  } else {
    std::string line;
    for (int32_t id : ids) {
      if (!line.empty()) line += ' ';
      line += std::to_string(id);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return 0;
}

QUANTLAB_COMMAND(Command{
    "tokenize",
    "text (FILE or standard input) -> token ids with a model's tokenizer (GGUF, tokenizer.json, HF folder, llama2.c tokenizer.bin)",
    {{"model", Takes::Value, "GGUF file, tokenizer.json, Hugging Face folder or llama2.c tokenizer.bin"},
     {"no-special", Takes::Nothing, "add no BOS/EOS and treat special-token text as plain text"},
     {"decode", Takes::Nothing, "read token ids (or a JSON array / {\"ids\": [...]}) and print their text"}},
    run_tokenize,
    {"[FILE]", "text to tokenize (ids with --decode); standard input when absent or -", 1}});

}  // namespace
}  // namespace quantlab::cli
