#define PCRE2_CODE_UNIT_WIDTH 8
#include "src/text/regex_splitter.hpp"

#include "quantlab/core/error.hpp"

#include <pcre2.h>

namespace quantlab::text_detail {

namespace {
// Unicode White_Space, as class members.
constexpr std::string_view kWhiteSpaceMembers =
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
}  // namespace

std::string widen_whitespace_classes(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's') {
        if (in_class) out.append(kWhiteSpaceMembers);
        else out.append("[").append(kWhiteSpaceMembers).append("]");
      } else if (n == 'S' && !in_class) {
        out.append("[^").append(kWhiteSpaceMembers).append("]");
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' (or '^]') right after '[' is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

RegexSplitter::RegexSplitter(const std::vector<std::string>& patterns, const std::string& source) {
  for (size_t k = 0; k < patterns.size(); ++k) {
    const std::string widened = widen_whitespace_classes(patterns[k]);
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    auto c = std::make_unique<Compiled>();
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(widened.data()), widened.size(),
                            PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_NO_UTF_CHECK, &err, &err_offset,
                            nullptr);
    if (!c->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error(source, "pre-tokenizer regex " + std::to_string(k),
                  "does not compile at offset " + std::to_string(err_offset) + ": " +
                      reinterpret_cast<const char*>(msg));
    }
    c->jit = pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE) == 0;
    compiled_.push_back(std::move(c));
  }
}

RegexSplitter::~RegexSplitter() = default;

namespace {

struct MatchResources {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchResources() {
    data = pcre2_match_data_create(4, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchResources() {
    if (stack) pcre2_jit_stack_free(stack);
    if (context) pcre2_match_context_free(context);
    if (data) pcre2_match_data_free(data);
  }
};

size_t utf8_char_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  return 4;
}

}  // namespace

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& out) const {
  std::vector<std::string_view> pieces{text}, next;
  if (text.empty()) return;
  MatchResources res;
  for (const auto& c : compiled_) {
    next.clear();
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t pos = 0, emitted = 0;
      while (pos <= piece.size()) {
        const int rc = pcre2_match(c->code, subject, piece.size(), pos, PCRE2_NO_UTF_CHECK, res.data, res.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(rc, msg, sizeof msg);
          throw Error("pre-tokenizer", "regex match", reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(res.data);
        const size_t start = ov[0], end = ov[1];
        if (start > emitted) next.push_back(piece.substr(emitted, start - emitted));
        if (end > start) {
          next.push_back(piece.substr(start, end - start));
          emitted = end;
          pos = end;
        } else {
          // An empty match splits nothing; step over one character.
          if (start >= piece.size()) break;
          pos = start + utf8_char_length(static_cast<unsigned char>(piece[start]));
          emitted = start;
        }
      }
      if (emitted < piece.size()) next.push_back(piece.substr(emitted));
    }
    pieces.swap(next);
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

}  // namespace quantlab::text_detail
