#include "jinja_lexer.hpp"

#include "quantlab/core/error.hpp"

#include <cctype>

namespace quantlab::text::jinja_detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python's str.rstrip() for ASCII whitespace (templates' data around tags is ASCII whitespace).
void rstrip(std::string& s) {
  while (!s.empty() && is_space(s.back())) s.pop_back();
}

std::string normalize_newlines(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view src, const std::string& name) : s_(normalize_newlines(src)), name_(name) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < s_.size()) {
      const size_t open = find_open(pos_);
      std::string text = s_.substr(pos_, open - pos_);
      if (open == s_.size()) {
        push_text(std::move(text), pos_);
        break;
      }
      const char kind = s_[open + 1];  // '{', '%' or '#'
      const char sign = open + 2 < s_.size() ? s_[open + 2] : '\0';
      if (sign == '-') {
        rstrip(text);
      } else if (sign != '+' && kind != '{') {  // lstrip_blocks: only for block and comment tags
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size()) {
          bool ws = true;
          for (size_t k = l_pos; k < text.size(); ++k) ws = ws && is_space(text[k]);
          if (ws) text.resize(l_pos);
        }
      }
      push_text(std::move(text), pos_);
      pos_ = open + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        line_starting = comment(open);
        continue;
      }
      const int line = line_at(open);
      tokens_.push_back({kind == '{' ? Token::Type::VarBegin : Token::Type::BlockBegin, "", line});
      line_starting = inside_tag(kind == '{' ? '}' : '%', line);
    }
    tokens_.push_back({Token::Type::Eof, "", line_at(s_.size())});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(int line, const std::string& msg) { throw Error(name_, "line " + std::to_string(line), msg); }

  int line_at(size_t off) {
    while (line_pos_ < off && line_pos_ < s_.size()) line_ += s_[line_pos_++] == '\n';
    return line_;
  }

  size_t find_open(size_t from) const {
    for (size_t i = from; i + 1 < s_.size(); ++i)
      if (s_[i] == '{' && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    return s_.size();
  }

  void push_text(std::string text, size_t at) {
    if (!text.empty()) tokens_.push_back({Token::Type::Text, std::move(text), line_at(at)});
  }

  // After a closing tag: `-` strips all following whitespace, else trim_blocks eats one newline
  // (block and comment tags only). Returns whether what was consumed ended with a newline.
  bool after_close(bool minus, bool plus, bool is_block) {
    bool ended_nl = false;
    if (minus) {
      while (pos_ < s_.size() && is_space(s_[pos_])) ended_nl = s_[pos_++] == '\n';
    } else if (is_block && !plus && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
      ended_nl = true;
    }
    return ended_nl;
  }

  bool comment(size_t open) {
    const size_t end = s_.find("#}", pos_);
    if (end == std::string::npos) fail(line_at(open), "unterminated comment");
    const bool minus = end > pos_ && s_[end - 1] == '-';
    const bool plus = end > pos_ && s_[end - 1] == '+';
    pos_ = end + 2;
    return after_close(minus, plus, true);
  }

  // Tokens inside {{ }} or {% %} up to the closing delimiter.
  bool inside_tag(char close, int open_line) {
    int depth = 0;
    while (true) {
      while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
      if (pos_ >= s_.size()) fail(open_line, std::string("unterminated tag (missing '") + close + "}')");
      const int line = line_at(pos_);
      if (depth == 0) {
        for (char sign : {'-', '+', '\0'}) {
          const size_t k = pos_ + (sign ? 1 : 0);
          if (sign && (pos_ >= s_.size() || s_[pos_] != sign)) continue;
          if (k + 1 < s_.size() && s_[k] == close && s_[k + 1] == '}') {
            pos_ = k + 2;
            tokens_.push_back({close == '}' ? Token::Type::VarEnd : Token::Type::BlockEnd, "", line});
            return after_close(sign == '-', sign == '+', close == '%');
          }
        }
      }
      const char c = s_[pos_];
      if (c == '"' || c == '\'') {
        tokens_.push_back({Token::Type::String, string_literal(c, line), line});
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        number(line);
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        const size_t b = pos_;
        while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
        tokens_.push_back({Token::Type::Name, s_.substr(b, pos_ - b), line});
      } else {
        static const char* two[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* t : two)
          if (s_.compare(pos_, 2, t) == 0) op = t;
        if (op.empty()) {
          if (std::string("+-*/%~<>=.,:|()[]{}!").find(c) == std::string::npos)
            fail(line, std::string("unexpected character '") + c + "' in a tag");
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") ++depth;
        if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
        pos_ += op.size();
        tokens_.push_back({Token::Type::Op, op, line});
      }
    }
  }

  void number(int line) {
    const size_t b = pos_;
    bool is_float = false;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
    if (pos_ + 1 < s_.size() && s_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))) {
      is_float = true;
      ++pos_;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t k = pos_ + 1;
      if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
      if (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k]))) {
        is_float = true;
        pos_ = k;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      }
    }
    std::string text;
    for (size_t k = b; k < pos_; ++k)
      if (s_[k] != '_') text += s_[k];
    tokens_.push_back({is_float ? Token::Type::Float : Token::Type::Int, text, line});
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) out += static_cast<char>(0xc0 | (cp >> 6)), out += static_cast<char>(0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
      out += static_cast<char>(0xe0 | (cp >> 12)), out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f)),
          out += static_cast<char>(0x80 | (cp & 0x3f));
    else
      out += static_cast<char>(0xf0 | (cp >> 18)), out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f)),
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f)), out += static_cast<char>(0x80 | (cp & 0x3f));
  }

  // Python string-literal escapes, as Jinja2 decodes them ("unicode-escape"; unknown escapes stay).
  std::string string_literal(char quote, int line) {
    std::string out;
    ++pos_;
    while (true) {
      if (pos_ >= s_.size()) fail(line, "unterminated string literal");
      const char c = s_[pos_++];
      if (c == quote) return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail(line, "unterminated string literal");
      const char e = s_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'a': out += '\a'; break;
        case '0': out += '\0'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (pos_ + n > s_.size()) fail(line, "truncated \\" + std::string(1, e) + " escape");
          const std::string digits = s_.substr(pos_, n);
          if (digits.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            fail(line, "invalid \\" + std::string(1, e) + " escape (expected " + std::to_string(n) + " hex digits)");
          const uint32_t cp = static_cast<uint32_t>(std::stoul(digits, nullptr, 16));
          pos_ += n;
          append_utf8(out, cp);
          break;
        }
        default: out += '\\', out += e;
      }
    }
  }

  std::string s_;
  const std::string& name_;
  size_t pos_ = 0;
  size_t line_pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& name) { return Lexer(source, name).run(); }

}  // namespace quantlab::text::jinja_detail
