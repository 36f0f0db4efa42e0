#include "src/text/unicode_props.hpp"

#include "quantlab/core/utf8.hpp"
#include "src/text/unicode_tables.hpp"

#include <algorithm>

namespace quantlab::unicode {
namespace t = unicode_tables;

CharClass char_class(uint32_t cp) {
  const auto* end = t::kCategoryRanges + t::kCategoryRangeCount;
  const auto* it = std::upper_bound(t::kCategoryRanges, end, cp,
                                    [](uint32_t c, const t::CategoryRange& r) { return c < r.first; });
  if (it == t::kCategoryRanges) return CharClass::Unassigned;
  return static_cast<CharClass>((it - 1)->cls);
}

bool is_white_space(uint32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

uint32_t to_lower(uint32_t cp) {
  const auto* end = t::kLowercase + t::kLowercaseCount;
  const auto* it = std::lower_bound(t::kLowercase, end, cp,
                                    [](const t::CodepointPair& p, uint32_t c) { return p.from < c; });
  return it != end && it->from == cp ? it->to : cp;
}

uint32_t nfd_first(uint32_t cp) {
  const auto* end = t::kNfdFirst + t::kNfdFirstCount;
  const auto* it = std::upper_bound(t::kNfdFirst, end, cp,
                                    [](uint32_t c, const t::NfdFirstRange& r) { return c < r.first; });
  if (it == t::kNfdFirst) return cp;
  --it;
  return cp <= it->last ? it->nfd_first : cp;
}

namespace {

constexpr uint32_t kHangulBase = 0xAC00, kHangulL = 0x1100, kHangulV = 0x1161, kHangulT = 0x11A7;
constexpr uint32_t kHangulVCount = 21, kHangulTCount = 28, kHangulNCount = kHangulVCount * kHangulTCount;
constexpr uint32_t kHangulCount = 11172;

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  const auto* end = t::kCombiningClasses + t::kCombiningClassCount;
  const auto* it = std::upper_bound(t::kCombiningClasses, end, cp,
                                    [](uint32_t c, const t::CombiningClassRange& r) { return c < r.first; });
  if (it == t::kCombiningClasses) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kHangulBase && cp < kHangulBase + kHangulCount) {
    const uint32_t s = cp - kHangulBase;
    out.push_back(kHangulL + s / kHangulNCount);
    out.push_back(kHangulV + (s % kHangulNCount) / kHangulTCount);
    if (s % kHangulTCount) out.push_back(kHangulT + s % kHangulTCount);
    return;
  }
  const auto* end = t::kDecompositions + t::kDecompositionCount;
  const auto* it = std::lower_bound(t::kDecompositions, end, cp,
                                    [](const t::Decomposition& d, uint32_t c) { return d.cp < c; });
  if (it != end && it->cp == cp) {
    out.insert(out.end(), t::kDecompositionPool + it->pool_offset,
               t::kDecompositionPool + it->pool_offset + it->length);
  } else {
    out.push_back(cp);
  }
}

// The primary composite of (a, b), or 0 when there is none.
uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= kHangulL && a < kHangulL + 19 && b >= kHangulV && b < kHangulV + kHangulVCount)
    return kHangulBase + ((a - kHangulL) * kHangulVCount + (b - kHangulV)) * kHangulTCount;
  if (a >= kHangulBase && a < kHangulBase + kHangulCount && (a - kHangulBase) % kHangulTCount == 0 &&
      b > kHangulT && b < kHangulT + kHangulTCount)
    return a + (b - kHangulT);
  const auto* end = t::kCompositions + t::kCompositionCount;
  const auto* it = std::lower_bound(t::kCompositions, end, std::pair{a, b}, [](const t::Composition& c, std::pair<uint32_t, uint32_t> k) {
    return c.first < k.first || (c.first == k.first && c.second < k.second);
  });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

}  // namespace

std::string nfc(std::string_view utf8) {
  const std::vector<uint32_t> cps = decode_utf8(utf8);
  if (std::all_of(cps.begin(), cps.end(), [](uint32_t c) { return c < 0x300; })) return std::string(utf8);

  std::vector<uint32_t> d;
  d.reserve(cps.size() + 8);
  for (uint32_t c : cps) decompose(c, d);
  // Canonical ordering: stable sort of every run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) { ++i; continue; }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](uint32_t x, uint32_t y) { return combining_class(x) < combining_class(y); });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> r;
  r.reserve(d.size());
  ptrdiff_t starter = -1;
  int last_ccc = 0;
  for (uint32_t c : d) {
    const int ccc = combining_class(c);
    if (starter >= 0) {
      const bool adjacent = static_cast<size_t>(starter) + 1 == r.size();
      if (adjacent || (last_ccc != 0 && last_ccc < ccc)) {
        if (const uint32_t comp = compose(r[starter], c)) {
          r[starter] = comp;
          continue;
        }
      }
    }
    if (ccc == 0) starter = static_cast<ptrdiff_t>(r.size());
    last_ccc = ccc;
    r.push_back(c);
  }
  std::string out;
  out.reserve(utf8.size());
  for (uint32_t c : r) append_utf8(out, c);
  return out;
}

std::vector<uint32_t> decode_utf8(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i + k])); };
    uint32_t cp;
    if (n == 1) cp = b(0);
    else if (n == 2) cp = ((b(0) & 0x1f) << 6) | (b(1) & 0x3f);
    else if (n == 3) cp = ((b(0) & 0x0f) << 12) | ((b(1) & 0x3f) << 6) | (b(2) & 0x3f);
    else cp = ((b(0) & 0x07) << 18) | ((b(1) & 0x3f) << 12) | ((b(2) & 0x3f) << 6) | (b(3) & 0x3f);
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string sanitize_utf8(std::string_view s) {
  const size_t bad = utf8_first_invalid(s);
  if (bad == s.size()) return std::string(s);
  std::string out(s.substr(0, bad));
  size_t i = bad;
  while (i < s.size()) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace quantlab::unicode
