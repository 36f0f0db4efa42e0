#include "quantlab/eval/judge_verdict.hpp"

#include <regex>
#include <set>
#include <sstream>
#include <vector>

namespace quantlab {

const char* verdict_name(PairVerdict v) {
  switch (v) {
    case PairVerdict::A: return "A";
    case PairVerdict::B: return "B";
    case PairVerdict::Even: return "Even";
  }
  return "?";
}

namespace {

// Lower case (ASCII only: the words read here are English), markdown emphasis, quotes, brackets and
// backticks replaced by spaces, runs of blanks made one, trimmed.
std::string plain(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c == '*' || c == '_' || c == '"' || c == '\'' || c == '`' || c == '(' || c == ')' || c == '#' || c == '\t') c = ' ';
    if (c == ' ' && (r.empty() || r.back() == ' ')) continue;
    r += c;
  }
  while (!r.empty() && r.back() == ' ') r.pop_back();
  return r;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    line = plain(line);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::optional<PairVerdict> label(const std::string& w) {
  if (w == "a") return PairVerdict::A;
  if (w == "b") return PairVerdict::B;
  if (w == "even" || w == "tie" || w == "draw" || w == "c") return PairVerdict::Even;
  return std::nullopt;
}

// A whole line that is a verdict: "a", "answer a", "verdict: b", "the answer is b", "my final answer
// is even", "the better answer is a.", "winner - even", "i choose b", "a is better".
const std::regex& line_form() {
  static const std::regex r(
      R"(^(?:(?:(?:my|the) )?(?:final )?(?:answer|verdict|choice|decision|winner|judgement|judgment|result|output|better one|better answer|better)(?: is)?|i (?:choose|pick|prefer|select)(?: answer)?|choose|pick)?\s*[:\-]?\s*\[*\s*(a|b|even|tie|draw)\s*\]*\s*(?:is better)?\s*[.!]?$)");
  return r;
}

// "verdict: a" anywhere (a colon required: prose such as "answer a is long" names no verdict).
const std::regex& labelled_form() {
  static const std::regex r(
      R"((?:^|[^a-z])(?:final answer|answer|verdict|choice|decision|winner|better answer|judgement|judgment)\s*:\s*\[*\s*(a|b|even|tie|draw)(?![a-z]))");
  return r;
}

std::optional<PairVerdict> line_verdict(const std::string& line) {
  std::smatch m;
  if (std::regex_match(line, m, line_form())) return label(m[1].str());
  return std::nullopt;
}

}  // namespace

std::optional<PairVerdict> parse_pair_verdict(const std::string& answer) {
  const std::string all = plain(answer);
  // MT-bench's bracketed verdicts: one kind only.
  {
    static const std::regex bracket(R"(\[\[\s*(a|b|c|even|tie)\s*\]\])");
    std::set<PairVerdict> seen;
    for (auto it = std::sregex_iterator(all.begin(), all.end(), bracket); it != std::sregex_iterator(); ++it)
      seen.insert(*label((*it)[1].str()));
    if (seen.size() == 1) return *seen.begin();
    if (seen.size() > 1) return std::nullopt;
  }
  const std::vector<std::string> lines = lines_of(answer);
  if (lines.empty()) return std::nullopt;
  // A verdict line first or last (a judge that explains before or after); two that differ say nothing.
  const std::optional<PairVerdict> first = line_verdict(lines.front()), last = line_verdict(lines.back());
  if (first && last && *first != *last) return std::nullopt;
  if (first) return first;
  if (last) return last;
  // The first word alone, set off by punctuation ("A. Because ..." / "B: it is ..."), but not "A good
  // answer is B", where "a" is an article.
  {
    static const std::regex lead(R"(^(a|b|even|tie)\s*[.:,;\-]($|\s))");
    std::smatch m;
    if (std::regex_search(lines.front(), m, lead)) return label(m[1].str());
  }
  std::set<PairVerdict> seen;
  for (auto it = std::sregex_iterator(all.begin(), all.end(), labelled_form()); it != std::sregex_iterator(); ++it)
    seen.insert(*label((*it)[1].str()));
  if (seen.size() == 1) return *seen.begin();
  return std::nullopt;
}

std::optional<int> parse_score(const std::string& answer, int lo, int hi) {
  auto in_range = [&](const std::string& digits) -> std::optional<int> {
    if (digits.size() > 3) return std::nullopt;
    const int n = std::stoi(digits);
    return n >= lo && n <= hi ? std::optional<int>(n) : std::nullopt;
  };
  const std::string all = plain(answer);
  {
    static const std::regex whole(R"(^\[*\s*(\d+)\s*\]*\s*(?:/\s*\d+)?\s*(?:points?)?\s*[.!]?$)");
    std::smatch m;
    if (std::regex_match(all, m, whole)) return in_range(m[1].str());
  }
  // Bracketed or labelled scores anywhere: all must agree.
  static const std::regex labelled(
      R"((?:\[\[\s*(\d+)\s*\]\])|(?:(?:^|[^a-z])(?:final score|score|rating|grade|評価|点数)\s*(?:[:=]|：|is)\s*\[*\s*(\d+)(?![\d.]\d)))");
  std::set<int> seen;
  bool bad = false;
  for (auto it = std::sregex_iterator(all.begin(), all.end(), labelled); it != std::sregex_iterator(); ++it) {
    const std::string d = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
    if (auto n = in_range(d)) seen.insert(*n);
    else bad = true;
  }
  if (seen.size() == 1 && !bad) return *seen.begin();
  if (!seen.empty() || bad) return std::nullopt;
  const std::vector<std::string> lines = lines_of(answer);
  if (lines.empty()) return std::nullopt;
  static const std::regex lead(R"(^\[*(\d+)\]*\s*(?:$|/\s*\d+|[.:,;)\-]|\s+-))");
  for (const std::string* line : {&lines.front(), &lines.back()}) {
    std::smatch m;
    if (std::regex_search(*line, m, lead)) return in_range(m[1].str());
  }
  return std::nullopt;
}

}  // namespace quantlab
