#include "token_ids.hpp"

#include "quantlab/core/error.hpp"

#include <cctype>
#include <fstream>
#include <sstream>

namespace quantlab::cli {

std::vector<int32_t> parse_token_ids(const std::string& text, const std::string& source) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (std::isspace(ch) || ch == ',') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    const bool ends_ok = j == text.size() || std::isspace(static_cast<unsigned char>(text[j])) || text[j] == ',';
    if (j == i || !ends_ok || j - i > 9)
      throw Error(source, "token " + std::to_string(ids.size()), "expected a token id at byte " + std::to_string(i));
    ids.push_back(int32_t(std::stol(text.substr(i, j - i))));
    i = j;
  }
  return ids;
}

std::vector<int32_t> read_token_ids_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_token_ids(ss.str(), path);
}

}  // namespace quantlab::cli
