#pragma once
// Jinja tokenizer with Jinja2's whitespace rules (trim_blocks and lstrip_blocks on, as in
// transformers): `{%-`/`-%}` strip all whitespace on that side, trim_blocks drops the first newline
// after a block or comment tag, lstrip_blocks drops spaces and tabs before a block or comment tag
// that starts its line, `+` disables both, and one trailing newline of the source is dropped.
#include <string>
#include <string_view>
#include <vector>

namespace quantlab::text::jinja_detail {

struct Token {
  enum class Type { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };
  Type type;
  std::string value;
  int line;
};

std::vector<Token> tokenize(std::string_view source, const std::string& name);

}  // namespace quantlab::text::jinja_detail
