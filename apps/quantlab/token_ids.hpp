#pragma once
// Token ids given on the command line or in a file ("1 2 3", "1,2,3", one or many lines, or JSON:
// [1, 2, 3] or the {"ids": [...]} that `tokenize --json` prints): the way to drive the model
// without a tokenizer, and how tests pin exact inputs.
#include <cstdint>
#include <string>
#include <vector>

namespace quantlab::cli {

// Throws Error(source, "token N", ...) on anything that is not a non-negative integer.
std::vector<int32_t> parse_token_ids(const std::string& text, const std::string& source);
std::vector<int32_t> read_token_ids_file(const std::string& path);

}  // namespace quantlab::cli
