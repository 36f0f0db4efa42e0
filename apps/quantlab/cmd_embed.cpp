// quantlab embed: sentence embeddings of texts (one per line) with a sentence-transformers model,
// or, with --compare, how far each text moved from its counterpart in another file (seed 001's
// embedding distances between a base model's answers and a quantized model's).
#include "command.hpp"
#include "eval_input.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/embed/sentence_encoder.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace quantlab::cli {
namespace {

// One text per line (a final newline ends the last text; "\r\n" counts as a newline).
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw Error(path, "", "cannot open");
    in = &file;
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(*in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (lines.empty()) throw Error(path == "-" ? "stdin" : path, "", "no text (one text per line)");
  return lines;
}

int run_embed(const Args& a) {
  if (a.positional().size() > 1) throw Error("FILE", "", "at most one input file");
  const std::string input = a.positional().empty() ? "-" : a.positional()[0];
  ThreadPool pool(thread_count(a));
  const SentenceEncoder encoder(a.require("model"), pool);
  const std::vector<std::string> texts = read_lines(input);
  const bool json = a.has("json");

  if (auto other_path = a.get("compare")) {
    const std::vector<std::string> others = read_lines(*other_path);
    if (others.size() != texts.size())
      throw Error(*other_path, "", std::to_string(others.size()) + " texts, " + (input == "-" ? "stdin" : input) + " has " +
                                       std::to_string(texts.size()) + ": --compare pairs them line by line");
    nlohmann::json pairs = nlohmann::json::array();
    double cos_sum = 0, l1_sum = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::vector<float> x = encoder.encode(texts[i]), y = encoder.encode(others[i]);
      const double cos = cosine_similarity(x, y), l1 = l1_distance(x, y);
      cos_sum += cos;
      l1_sum += l1;
      if (json) pairs.push_back({{"line", i + 1}, {"cosine", cos}, {"l1", l1}});
      else std::printf("%zu\tcosine %.6f\tl1 %.6f\n", i + 1, cos, l1);
    }
    const double n = double(texts.size());
    if (json)
      print_json({{"command", "embed"}, {"model", a.require("model")}, {"pairs", pairs},
                  {"mean_cosine", cos_sum / n}, {"mean_l1", l1_sum / n}});
    else std::printf("mean\tcosine %.6f\tl1 %.6f\t(%zu pairs)\n", cos_sum / n, l1_sum / n, texts.size());
    return 0;
  }

  const SentenceEncoderInfo& info = encoder.info();
  nlohmann::json rows = nlohmann::json::array();
  for (const std::string& text : texts) {
    const std::vector<float> e = encoder.encode(text);
    if (json) {
      rows.push_back({{"tokens", encoder.tokens(text).size()}, {"embedding", e}});
    } else {
      std::string line;
      for (float v : e) {
        char buf[32];
        std::snprintf(buf, sizeof buf, line.empty() ? "%.9g" : " %.9g", double(v));
        line += buf;
      }
      std::puts(line.c_str());
    }
  }
  if (json)
    print_json({{"command", "embed"}, {"model", a.require("model")}, {"dimension", info.dimension},
                {"max_seq_length", info.max_seq_length}, {"normalized", info.normalize}, {"texts", rows}});
  return 0;
}

QUANTLAB_COMMAND(Command{
    "embed",
    "sentence embeddings (sentence-transformers BERT models, e.g. all-MiniLM-L6-v2) of texts, one per line; "
    "--compare gives each pair's cosine similarity and L1 distance",
    {{"model", Takes::Value, "sentence-transformers (or BERT) model folder"},
     {"compare", Takes::Value, "second file of texts: line i is compared with line i of FILE"},
     {"threads", Takes::Value, "worker threads (default: all cores)"}},
    run_embed,
    {"[FILE]", "texts, one per line; standard input when absent or -", 1}});

}  // namespace
}  // namespace quantlab::cli
