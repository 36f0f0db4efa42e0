// Python semantics of Jinja values: str/repr, truthiness, equality, json.dumps, str.strip.
#include "jinja_value.hpp"

#include "quantlab/core/utf8.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace quantlab::text::jinja_detail {

std::string dict_key(const Value& key) {
  // Built by appending: g++ 12 warns (-Wrestrict) on "literal" + std::string here.
  std::string out;
  const auto tagged = [&](char tag, const std::string& body) {
    out.push_back('\x01');
    out.push_back(tag);
    out.append(body);
    return out;
  };
  switch (key.kind) {
    case Value::Kind::String: return key.s;
    case Value::Kind::Int: return tagged('i', std::to_string(key.i));
    case Value::Kind::Bool: return tagged('i', key.b ? "1" : "0");  // True == 1 as a key
    case Value::Kind::Float:
      if (key.f == std::floor(key.f) && std::fabs(key.f) < 9e15) return tagged('i', std::to_string(static_cast<int64_t>(key.f)));
      return tagged('f', python_float_repr(key.f));
    case Value::Kind::None: return tagged('n', "");
    default: return tagged('?', repr(key));
  }
}

Value key_value(const std::string& k) {
  if (k.empty() || k[0] != '\x01') return Value::string(k);
  if (k.compare(0, 2, "\x01i") == 0) return Value::integer(std::stoll(k.substr(2)));
  if (k.compare(0, 2, "\x01f") == 0) return Value::number(std::stod(k.substr(2)));
  if (k == "\x01n") return Value::none();
  return Value::string(k.substr(2));
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return false;
    case Value::Kind::Bool: return v.b;
    case Value::Kind::Int: return v.i != 0;
    case Value::Kind::Float: return v.f != 0.0;
    case Value::Kind::String: return !v.s.empty();
    case Value::Kind::List: return v.is_generator || !v.list->empty();
    case Value::Kind::Dict: return v.is_namespace || !v.dict->items.empty();
    case Value::Kind::Function: return true;
  }
  return false;
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf is d.ddde[+-]XX with the fewest digits that round-trip; lay it out as Python's repr does.
  std::string m(buf);
  const auto e = m.find('e');
  const int exp = std::atoi(m.c_str() + e + 1);
  std::string digits;
  bool neg = m[0] == '-';
  for (size_t k = neg ? 1 : 0; k < e; ++k)
    if (m[k] != '.') digits += m[k];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (neg) out.push_back('-');
  if (exp < -4 || exp >= 16) {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1, std::string::npos);
    }
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out.append(eb);
    return out;
  }
  if (exp < 0) {
    out.append("0.");
    out.append(static_cast<size_t>(-exp - 1), '0');
    out.append(digits);
    return out;
  }
  const size_t int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len) {
    out.append(digits);
    out.append(int_len - digits.size(), '0');
    out.append(".0");
    return out;
  }
  out.append(digits, 0, int_len);
  out.push_back('.');
  out.append(digits, int_len, std::string::npos);
  return out;
}

namespace {

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(q) || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else out += static_cast<char>(c);
  }
  return out + q;
}

}  // namespace

std::string repr(const Value& v) {
  switch (v.kind) {
    case Value::Kind::String: return repr_string(v.s);
    case Value::Kind::List: {
      if (v.is_generator) return "<generator object select_or_reject>";
      std::string out = "[";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + repr((*v.list)[k]);
      return out + "]";
    }
    case Value::Kind::Dict: {
      if (v.is_namespace) return "<Namespace>";
      std::string out = "{";
      bool first = true;
      for (const auto& kv : v.dict->items) {
        out += (first ? "" : ", ") + repr(key_value(kv.first)) + ": " + repr(kv.second);
        first = false;
      }
      return out + "}";
    }
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined: return "";
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return v.b ? "True" : "False";
    case Value::Kind::Int: return std::to_string(v.i);
    case Value::Kind::Float: return python_float_repr(v.f);
    case Value::Kind::String: return v.s;
    case Value::Kind::Function: return "<function>";
    default: return repr(v);
  }
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined: return "Undefined";
    case Value::Kind::None: return "NoneType";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return v.is_namespace ? "Namespace" : "dict";
    case Value::Kind::Function: return "function";
  }
  return "?";
}

double as_double(const Value& v) {
  if (v.kind == Value::Kind::Float) return v.f;
  if (v.kind == Value::Kind::Bool) return v.b ? 1 : 0;
  return static_cast<double>(v.i);
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind != Value::Kind::Float && b.kind != Value::Kind::Float)
      return (a.kind == Value::Kind::Bool ? a.b : a.i) == (b.kind == Value::Kind::Bool ? b.b : b.i);
    return as_double(a) == as_double(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::String: return a.s == b.s;
    case Value::Kind::List:
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!equals((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Value::Kind::Dict:
      if (a.is_namespace || b.is_namespace) return a.dict == b.dict;
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& kv : a.dict->items) {
        const Value* o = b.dict->find(kv.first);
        if (!o || !equals(kv.second, *o)) return false;
      }
      return true;
    case Value::Kind::Function: return a.fn == b.fn;
    default: return false;
  }
}

Value from_json(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null: return Value::none();
    case T::boolean: return Value::boolean(j.get<bool>());
    case T::number_integer: return Value::integer(j.get<int64_t>());
    case T::number_unsigned: return Value::integer(static_cast<int64_t>(j.get<uint64_t>()));
    case T::number_float: return Value::number(j.get<double>());
    case T::string: return Value::string(j.get<std::string>());
    case T::array: {
      List l;
      for (const auto& e : j) l.push_back(from_json(e));
      return Value::list_of(std::move(l));
    }
    case T::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(it.key(), from_json(it.value()));
      return Value::dict_of(std::move(d));
    }
    default: return Value::undefined();
  }
}

namespace {

uint32_t decode_cp(const std::string& s, size_t i, size_t n) {
  uint32_t cp = static_cast<unsigned char>(s[i]) & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return cp;
}

void json_string(const std::string& s, std::string& out, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (ensure_ascii && c >= 0x80) {  // \uXXXX, with a surrogate pair above U+FFFF (Python's json)
      size_t n = utf8_sequence_length(s, i);
      if (n == 0) n = 1;
      uint32_t cp = n == 1 ? c : decode_cp(s, i, n);
      char b[16];
      if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
      } else {
        std::snprintf(b, sizeof b, "\\u%04x", cp);
      }
      out += b;
      i += n - 1;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void dump(const Value& v, int indent, int level, const std::string& item_sep, const std::string& key_sep, bool sort_keys,
          int line, bool ascii, std::string& out) {
  const auto newline = [&](int lvl) {
    if (indent < 0) return;
    out.push_back('\n');
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.kind) {
    case Value::Kind::None: out += "null"; return;
    case Value::Kind::Bool: out += v.b ? "true" : "false"; return;
    case Value::Kind::Int: out += std::to_string(v.i); return;
    case Value::Kind::Float:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
      else out += python_float_repr(v.f);
      return;
    case Value::Kind::String: json_string(v.s, out, ascii); return;
    case Value::Kind::List: {
      if (v.is_generator) throw EvalError{line, "Object of type generator is not JSON serializable"};
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += item_sep;
        newline(level + 1);
        dump((*v.list)[k], indent, level + 1, item_sep, key_sep, sort_keys, line, ascii, out);
      }
      newline(level);
      out += ']';
      return;
    }
    case Value::Kind::Dict: {
      if (v.is_namespace) throw EvalError{line, "Object of type Namespace is not JSON serializable"};
      if (v.dict->items.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.dict->items) items.push_back(&kv);
      if (sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto* x, auto* y) { return x->first < y->first; });
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += item_sep;
        newline(level + 1);
        json_string(to_str(key_value(items[k]->first)), out, ascii);
        out += key_sep;
        dump(items[k]->second, indent, level + 1, item_sep, key_sep, sort_keys, line, ascii, out);
      }
      newline(level);
      out += '}';
      return;
    }
    default: throw EvalError{line, "Object of type " + type_name(v) + " is not JSON serializable"};
  }
}

bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

uint32_t decode_at(const std::string& s, size_t i, size_t n) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (n == 1) return c;
  uint32_t cp = c & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return cp;
}

}  // namespace

std::string to_json(const Value& v, int indent, const std::string& item_sep, const std::string& key_sep, bool sort_keys,
                    int line, bool ensure_ascii) {
  std::string out;
  dump(v, indent, 0, item_sep, key_sep, sort_keys, line, ensure_ascii, out);
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<size_t> codepoint_offsets(const std::string& s) {
  std::vector<size_t> offs;
  size_t i = 0;
  while (i < s.size()) {
    offs.push_back(i);
    const size_t n = utf8_sequence_length(s, i);
    i += n ? n : 1;
  }
  offs.push_back(s.size());
  return offs;
}

std::string python_strip(const std::string& s, const Value* chars, bool left, bool right) {
  const auto offs = codepoint_offsets(s);
  const size_t n = offs.size() - 1;
  std::vector<std::string> set;
  const bool custom = chars && chars->is_string();
  if (custom) {
    const auto co = codepoint_offsets(chars->s);
    for (size_t k = 0; k + 1 < co.size(); ++k) set.push_back(chars->s.substr(co[k], co[k + 1] - co[k]));
  }
  const auto strip_here = [&](size_t k) {
    const size_t len = offs[k + 1] - offs[k];
    if (custom) return std::find(set.begin(), set.end(), s.substr(offs[k], len)) != set.end();
    return is_python_space(decode_at(s, offs[k], len));
  };
  size_t b = 0, e = n;
  if (left)
    while (b < e && strip_here(b)) ++b;
  if (right)
    while (e > b && strip_here(e - 1)) --e;
  return s.substr(offs[b], offs[e] - offs[b]);
}

}  // namespace quantlab::text::jinja_detail
