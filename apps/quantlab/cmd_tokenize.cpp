// quantlab tokenize: text -> token ids (or ids -> text with --decode) with a model's tokenizer.
#include "command.hpp"
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
  if (args.positional().empty()) {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  const std::string& path = args.positional()[0];
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Ids for --decode: white-space separated integers, or a JSON array / {"ids": [...]}.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& source) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  std::vector<int32_t> ids;
  if (first != std::string::npos && (text[first] == '[' || text[first] == '{')) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(source, "json (byte " + std::to_string(e.byte) + ")", "malformed JSON");
    }
    const nlohmann::json& arr = j.is_object() && j.contains("ids") ? j["ids"] : j;
    if (!arr.is_array()) throw Error(source, "ids", "is not an array");
    for (size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_number_integer()) throw Error(source, "ids[" + std::to_string(i) + "]", "is not an integer");
      ids.push_back(arr[i].get<int32_t>());
    }
    return ids;
  }
  std::istringstream in(text);
  std::string word;
  for (size_t i = 0; in >> word; ++i) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < INT32_MIN || v > INT32_MAX)
      throw Error(source, "id " + std::to_string(i), "'" + word + "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

int run_tokenize(const Args& args) {
  const Tokenizer tok = Tokenizer::load(args.require("model"));
  const bool special = !args.has("no-special");
  const std::string input = read_input(args);
  const std::string source = args.positional().empty() ? "stdin" : args.positional()[0];

  if (args.has("decode")) {
    const std::string text = tok.decode(parse_ids(input, source), /*skip_special=*/!special);
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
    "text -> token ids with a model's tokenizer (GGUF, tokenizer.json, HF folder, llama2.c tokenizer.bin)",
    {{"model", Takes::Value, "GGUF file, tokenizer.json, Hugging Face folder or llama2.c tokenizer.bin"},
     {"no-special", Takes::Nothing, "add no BOS/EOS and treat special-token text as plain text"},
     {"decode", Takes::Nothing, "read token ids (or a JSON array / {\"ids\": [...]}) and print their text"}},
    run_tokenize});

}  // namespace
}  // namespace quantlab::cli
