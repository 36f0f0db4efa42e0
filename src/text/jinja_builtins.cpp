// Built-in filters, tests, globals and Python methods of the Jinja subset. Names and behaviour
// follow Jinja2 3.1 and transformers' additions (tojson keeps non-ASCII text; raise_exception;
// strftime_now).
#include "jinja_builtins.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace quantlab::text::jinja_detail {
namespace {

[[noreturn]] void fail(int line, const std::string& msg) { throw EvalError{line, msg}; }

const std::string& need_string(const Value& v, const std::string& what, int line) {
  if (!v.is_string()) fail(line, what + " expects a string, got " + type_name(v));
  return v.s;
}

int64_t need_int(const Value& v, const std::string& what, int line) {
  if (v.kind == Value::Kind::Int) return v.i;
  if (v.kind == Value::Kind::Bool) return v.b;
  fail(line, what + " expects an integer, got " + type_name(v));
}

std::string ascii_upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string ascii_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string capitalize(const std::string& s) {
  std::string out = ascii_lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}
std::string title(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (auto& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
      start = false;
    } else {
      start = !(u >= 0x80);  // letters of other scripts keep the word going
    }
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (from.empty()) {  // Python inserts `to` between every code point
    const auto offs = codepoint_offsets(s);
    std::string out;
    int64_t done = 0;
    for (size_t k = 0; k + 1 < offs.size(); ++k) {
      if (count < 0 || done < count) out += to, ++done;
      out += s.substr(offs[k], offs[k + 1] - offs[k]);
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  std::string out;
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t f = s.find(from, pos);
    if (f == std::string::npos) break;
    out += s.substr(pos, f - pos) + to;
    pos = f + from.size();
    ++done;
  }
  return out + s.substr(pos);
}

bool is_space_ascii(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

List split(const std::string& s, const Value* sep, int64_t maxsplit, int line) {
  List out;
  if (!sep || sep->is_none()) {  // runs of whitespace, no empty strings
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_space_ascii(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        std::string rest = s.substr(i);
        while (!rest.empty() && is_space_ascii(rest.back())) rest.pop_back();
        out.push_back(Value::string(rest));
        return out;
      }
      const size_t b = i;
      while (i < s.size() && !is_space_ascii(s[i])) ++i;
      out.push_back(Value::string(s.substr(b, i - b)));
    }
    return out;
  }
  const std::string& d = need_string(*sep, "split", line);
  if (d.empty()) fail(line, "empty separator");
  size_t pos = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    const size_t f = s.find(d, pos);
    if (f == std::string::npos) break;
    out.push_back(Value::string(s.substr(pos, f - pos)));
    pos = f + d.size();
  }
  out.push_back(Value::string(s.substr(pos)));
  return out;
}

int64_t length_of(const Value& v, int line) {
  switch (v.kind) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(codepoint_offsets(v.s).size() - 1);
    case Value::Kind::List:
      if (v.is_generator) fail(line, "object of type 'generator' has no len()");
      return static_cast<int64_t>(v.list->size());
    case Value::Kind::Dict: return static_cast<int64_t>(v.dict->items.size());
    default: fail(line, "object of type '" + type_name(v) + "' has no len()");
  }
}

bool less_than(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) return as_double(a) < as_double(b);
  if (a.is_string() && b.is_string()) return a.s < b.s;
  fail(line, "'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

// The test named by a selectattr/select argument list starting at `first`.
bool run_test_from(const Value& item, CallArgs& args, size_t first) {
  if (args.positional.size() <= first) return truthy(item);
  const Value& tn = args.positional[first];
  if (!tn.is_string()) fail(args.line, "a test name must be a string");
  CallArgs targs;
  targs.line = args.line;
  targs.positional.assign(args.positional.begin() + static_cast<long>(first) + 1, args.positional.end());
  return apply_test(tn.s, item, targs);
}

// "Now" is the local time, unless SOURCE_DATE_EPOCH (the reproducible-builds convention) pins it:
// then that instant in UTC, so rendered prompts and their fixtures do not change with the day.
std::string strftime_now(const std::string& fmt) {
  std::tm tm{};
  if (const char* pinned = std::getenv("SOURCE_DATE_EPOCH")) {
    const std::time_t t = std::time_t(std::strtoll(pinned, nullptr, 10));
    gmtime_r(&t, &tm);
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  }
  char buf[256];
  const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
  return std::string(buf, n);
}

}  // namespace

List iterate(const Value& v, int line) {
  switch (v.kind) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return *v.list;
    case Value::Kind::Dict: {
      List keys;
      for (const auto& kv : v.dict->items) keys.push_back(key_value(kv.first));
      return keys;
    }
    case Value::Kind::String: {
      List chars;
      const auto offs = codepoint_offsets(v.s);
      for (size_t k = 0; k + 1 < offs.size(); ++k) chars.push_back(Value::string(v.s.substr(offs[k], offs[k + 1] - offs[k])));
      return chars;
    }
    default: fail(line, "'" + type_name(v) + "' object is not iterable");
  }
}

Value get_attribute(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined())
    fail(line, (obj.s.empty() ? std::string("value") : "'" + obj.s + "'") + " is undefined (reading ." + name + ")");
  if (obj.is_dict()) {
    if (const Value* v = obj.dict->find(name)) return *v;
  }
  if (obj.is_list() && !name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
    long long index = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), index);
    if (ec != std::errc() || end != name.data() + name.size()) fail(line, "list index ." + name + " is not a valid index");
    return get_item(obj, Value::integer(index), line);
  }
  return Value::undefined(name);
}

Value get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined())
    fail(line, (obj.s.empty() ? std::string("value") : "'" + obj.s + "'") + " is undefined (reading [" + repr(key) + "])");
  if (obj.is_dict()) {
    if (const Value* v = obj.dict->find(dict_key(key))) return *v;
    return Value::undefined(key.is_string() ? key.s : repr(key));
  }
  if (obj.is_list() && obj.is_generator) fail(line, "'generator' object is not subscriptable");
  if ((obj.is_list() || obj.is_string()) && (key.kind == Value::Kind::Int || key.kind == Value::Kind::Bool)) {
    int64_t k = key.kind == Value::Kind::Int ? key.i : key.b;
    if (obj.is_list()) {
      const auto n = static_cast<int64_t>(obj.list->size());
      if (k < 0) k += n;
      if (k < 0 || k >= n) return Value::undefined();
      return (*obj.list)[static_cast<size_t>(k)];
    }
    const auto offs = codepoint_offsets(obj.s);
    const auto n = static_cast<int64_t>(offs.size()) - 1;
    if (k < 0) k += n;
    if (k < 0 || k >= n) return Value::undefined();
    return Value::string(obj.s.substr(offs[static_cast<size_t>(k)], offs[static_cast<size_t>(k) + 1] - offs[static_cast<size_t>(k)]));
  }
  if (obj.is_string() && key.is_string()) return Value::undefined(key.s);  // str has no such attribute
  if (obj.is_none()) return Value::undefined(key.is_string() ? key.s : repr(key));
  return Value::undefined(key.is_string() ? key.s : repr(key));
}

Value apply_filter(const std::string& name, const Value& v, CallArgs& a) {
  const int line = a.line;
  if (name == "trim" || name == "strip") return Value::string(python_strip(to_str(v), a.arg(0, "chars"), true, true));
  if (name == "length" || name == "count") return Value::integer(length_of(v, line));
  if (name == "upper") return Value::string(ascii_upper(to_str(v)));
  if (name == "lower") return Value::string(ascii_lower(to_str(v)));
  if (name == "capitalize") return Value::string(capitalize(to_str(v)));
  if (name == "title") return Value::string(title(to_str(v)));
  if (name == "string") return v.is_string() ? v : Value::string(to_str(v));
  if (name == "safe") {
    Value m = v.is_string() ? v : Value::string(to_str(v));
    m.is_markup = true;
    return m;
  }
  if (name == "e" || name == "escape" || name == "forceescape") {
    if (v.is_markup && name != "forceescape") return v;
    Value m = Value::string(html_escape(to_str(v)));
    m.is_markup = true;
    return m;
  }
  if (name == "tojson") {
    const Value* indent = a.arg(0, "indent");
    int ind = -1;
    if (indent && !indent->is_none()) ind = static_cast<int>(need_int(*indent, "tojson indent", line));
    std::string item_sep = ind >= 0 ? "," : ", ", key_sep = ": ";
    if (const Value* seps = a.kw("separators"); seps && seps->is_list() && seps->list->size() == 2) {
      item_sep = to_str((*seps->list)[0]);
      key_sep = to_str((*seps->list)[1]);
    }
    const Value* sk = a.kw("sort_keys");
    const Value* ascii = a.kw("ensure_ascii");
    return Value::string(to_json(v, ind, item_sep, key_sep, sk && truthy(*sk), line, ascii && truthy(*ascii)));
  }
  if (name == "default" || name == "d") {
    const Value* dflt = a.arg(0, "default_value");
    const Value* boolean = a.arg(1, "boolean");
    const bool use = v.is_undefined() || (boolean && truthy(*boolean) && !truthy(v));
    return use ? (dflt ? *dflt : Value::string("")) : v;
  }
  if (name == "first" || name == "last") {
    if (name == "last" && v.is_generator) fail(line, "argument to reversed() must be a sequence");
    List items = iterate(v, line);
    if (items.empty()) return Value::undefined();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const Value* sep = a.arg(0, "d");
    const Value* attr = a.arg(1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v, line)) {
      if (!first) out += sep ? to_str(*sep) : "";
      first = false;
      out += to_str(attr ? get_attribute(item, to_str(*attr), line) : item);
    }
    return Value::string(out);
  }
  if (name == "replace") {
    if (a.positional.size() < 2) fail(line, "replace needs (old, new)");
    const Value* cnt = a.arg(2, "count");
    return Value::string(replace_all(to_str(v), to_str(a.positional[0]), to_str(a.positional[1]),
                                     cnt && !cnt->is_none() ? need_int(*cnt, "replace count", line) : -1));
  }
  if (name == "items" || name == "dictsort") {
    if (v.is_undefined()) return Value::list_of({});
    if (!v.is_dict()) fail(line, name + " expects a mapping, got " + type_name(v));
    List out;
    for (const auto& kv : v.dict->items) out.push_back(Value::list_of({key_value(kv.first), kv.second}));
    if (name == "dictsort")
      std::stable_sort(out.begin(), out.end(), [](const Value& x, const Value& y) { return to_str((*x.list)[0]) < to_str((*y.list)[0]); });
    return Value::list_of(std::move(out));
  }
  if (name == "list") return Value::list_of(iterate(v, line));  // also turns a generator into a list
  if (name == "int") {
    if (v.kind == Value::Kind::Int) return v;
    if (v.kind == Value::Kind::Bool) return Value::integer(v.b);
    if (v.kind == Value::Kind::Float) return Value::integer(static_cast<int64_t>(v.f));
    if (v.is_string()) {
      try {
        size_t used = 0;
        const std::string t = python_strip(v.s, nullptr, true, true);
        const long long r = std::stoll(t, &used, 10);
        if (used == t.size()) return Value::integer(r);
      } catch (...) {
      }
    }
    const Value* d = a.arg(0, "default");
    return d ? *d : Value::integer(0);
  }
  if (name == "float") {
    if (v.is_number()) return Value::number(as_double(v));
    if (v.is_string()) {
      try {
        return Value::number(std::stod(v.s));
      } catch (...) {
      }
    }
    const Value* d = a.arg(0, "default");
    return d ? *d : Value::number(0.0);
  }
  if (name == "abs") {
    if (v.kind == Value::Kind::Int) return Value::integer(v.i < 0 ? -v.i : v.i);
    if (v.is_number()) return Value::number(std::fabs(as_double(v)));
    fail(line, "abs expects a number");
  }
  if (name == "round") {
    const Value* prec = a.arg(0, "precision");
    const double p = std::pow(10.0, prec ? static_cast<double>(need_int(*prec, "round", line)) : 0.0);
    return Value::number(std::nearbyint(as_double(v) * p) / p);
  }
  if (name == "reverse") {
    if (v.is_string()) {
      const auto offs = codepoint_offsets(v.s);
      std::string out;
      for (size_t k = offs.size() - 1; k > 0; --k) out += v.s.substr(offs[k - 1], offs[k] - offs[k - 1]);
      return Value::string(out);
    }
    List items = iterate(v, line);
    std::reverse(items.begin(), items.end());
    return Value::list_of(std::move(items));
  }
  if (name == "unique") {
    List out;
    for (const Value& item : iterate(v, line)) {
      bool seen = false;
      for (const Value& o : out) seen = seen || equals(o, item);
      if (!seen) out.push_back(item);
    }
    return Value::list_of(std::move(out));
  }
  if (name == "sort") {
    List items = iterate(v, line);
    const Value* rev = a.arg(0, "reverse");
    const Value* attr = a.kw("attribute");
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      const Value kx = attr ? get_attribute(x, to_str(*attr), line) : x;
      const Value ky = attr ? get_attribute(y, to_str(*attr), line) : y;
      return less_than(kx, ky, line);
    });
    if (rev && truthy(*rev)) std::reverse(items.begin(), items.end());
    return Value::list_of(std::move(items));
  }
  if (name == "sum") {
    int64_t si = 0;
    double sf = 0;
    bool is_float = false;
    for (const Value& item : iterate(v, line)) {
      if (item.kind == Value::Kind::Float) is_float = true;
      sf += as_double(item);
      si += item.kind == Value::Kind::Int ? item.i : item.kind == Value::Kind::Bool ? item.b : 0;
    }
    return is_float ? Value::number(sf) : Value::integer(si);
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    const bool by_attr = name == "selectattr" || name == "rejectattr";
    const bool keep_when = name == "selectattr" || name == "select";
    List out;
    for (const Value& item : truthy(v) ? iterate(v, line) : List{}) {  // Jinja2 skips a falsy input
      Value subject = item;
      if (by_attr) {
        if (a.positional.empty()) fail(line, name + " needs an attribute name");
        subject = get_attribute(item, to_str(a.positional[0]), line);
      }
      if (run_test_from(subject, a, by_attr ? 1 : 0) == keep_when) out.push_back(item);
    }
    Value g = Value::list_of(std::move(out));
    g.is_generator = true;
    return g;
  }
  if (name == "map") {
    List out;
    const Value* attr = a.kw("attribute");
    for (const Value& item : truthy(v) ? iterate(v, line) : List{}) {
      if (attr) {
        Value r = get_attribute(item, to_str(*attr), line);
        if (r.is_undefined())
          if (const Value* d = a.kw("default")) r = *d;
        out.push_back(r);
      } else {
        if (a.positional.empty()) fail(line, "map needs a filter name or attribute=");
        CallArgs fa;
        fa.line = line;
        fa.positional.assign(a.positional.begin() + 1, a.positional.end());
        out.push_back(apply_filter(to_str(a.positional[0]), item, fa));
      }
    }
    Value g = Value::list_of(std::move(out));
    g.is_generator = true;
    return g;
  }
  if (name == "min" || name == "max") {
    List items = iterate(v, line);
    if (items.empty()) return Value::undefined();
    const Value* attr = a.kw("attribute");
    auto key = [&](const Value& x) { return attr ? get_attribute(x, to_str(*attr), line) : x; };
    size_t best = 0;
    for (size_t k = 1; k < items.size(); ++k) {
      const bool better = name == "min" ? less_than(key(items[k]), key(items[best]), line)
                                        : less_than(key(items[best]), key(items[k]), line);
      if (better) best = k;
    }
    return items[best];
  }
  if (name == "indent") {
    const Value* width = a.arg(0, "width");
    const Value* first = a.arg(1, "first");
    const Value* blank = a.arg(2, "blank");
    const std::string pad = width && width->is_string() ? width->s : std::string(width ? static_cast<size_t>(need_int(*width, "indent", line)) : 4, ' ');
    const std::string s = to_str(v);
    std::string out;
    size_t pos = 0;
    bool first_line = true;
    while (true) {
      const size_t nl = s.find('\n', pos);
      const std::string ln = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      const bool do_pad = first_line ? (first && truthy(*first)) : (!ln.empty() || (blank && truthy(*blank)));
      out += (do_pad ? pad : "") + ln;
      if (nl == std::string::npos) break;
      out += '\n';
      pos = nl + 1;
      first_line = false;
    }
    return Value::string(out);
  }
  if (name == "wordcount") return Value::integer(static_cast<int64_t>(split(to_str(v), nullptr, -1, line).size()));
  fail(line, "unknown filter '" + name + "'");
}

bool apply_test(const std::string& name, const Value& v, CallArgs& a) {
  const int line = a.line;
  const Value* arg = a.arg(0, "other");
  auto need_arg = [&]() -> const Value& {
    if (!arg) fail(line, "test '" + name + "' needs an argument");
    return *arg;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.kind == Value::Kind::Int || v.kind == Value::Kind::Float;
  if (name == "integer") return v.kind == Value::Kind::Int;
  if (name == "float") return v.kind == Value::Kind::Float;
  if (name == "boolean") return v.kind == Value::Kind::Bool;
  if (name == "true") return v.kind == Value::Kind::Bool && v.b;
  if (name == "false") return v.kind == Value::Kind::Bool && !v.b;
  if (name == "mapping") return v.is_dict() && !v.is_namespace;
  // Jinja2's Undefined has a length (0) and iterates as empty: it passes both tests.
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "callable") return v.kind == Value::Kind::Function;
  if (name == "equalto" || name == "eq" || name == "==") return equals(v, need_arg());
  if (name == "ne" || name == "!=") return !equals(v, need_arg());
  if (name == "sameas") {
    const Value& o = need_arg();
    if (v.kind != o.kind) return false;
    if (v.kind == Value::Kind::Bool) return v.b == o.b;
    if (v.kind == Value::Kind::None) return true;
    if (v.is_list()) return v.list == o.list;
    if (v.is_dict()) return v.dict == o.dict;
    return equals(v, o);
  }
  if (name == "lt" || name == "lessthan" || name == "<") return less_than(v, need_arg(), line);
  if (name == "gt" || name == "greaterthan" || name == ">") return less_than(need_arg(), v, line);
  if (name == "le" || name == "<=") return !less_than(need_arg(), v, line);
  if (name == "ge" || name == ">=") return !less_than(v, need_arg(), line);
  if (name == "odd") return need_int(v, "odd", line) % 2 != 0;
  if (name == "even") return need_int(v, "even", line) % 2 == 0;
  if (name == "divisibleby") return need_int(v, "divisibleby", line) % need_int(need_arg(), "divisibleby", line) == 0;
  if (name == "lower") return v.is_string() && ascii_lower(v.s) == v.s;
  if (name == "upper") return v.is_string() && ascii_upper(v.s) == v.s;
  if (name == "in") {
    const Value& c = need_arg();
    for (const Value& item : iterate(c, line))
      if (c.is_string() ? (v.is_string() && c.s.find(v.s) != std::string::npos) : equals(item, v)) return true;
    return false;
  }
  fail(line, "unknown test '" + name + "'");
}

std::optional<Value> call_method(const Value& obj, const std::string& name, CallArgs& a) {
  const int line = a.line;
  if (obj.is_string()) {
    const std::string& s = obj.s;
    if (name == "strip") return Value::string(python_strip(s, a.arg(0, "chars"), true, true));
    if (name == "lstrip") return Value::string(python_strip(s, a.arg(0, "chars"), true, false));
    if (name == "rstrip") return Value::string(python_strip(s, a.arg(0, "chars"), false, true));
    if (name == "upper") return Value::string(ascii_upper(s));
    if (name == "lower") return Value::string(ascii_lower(s));
    if (name == "capitalize") return Value::string(capitalize(s));
    if (name == "title") return Value::string(title(s));
    if (name == "startswith" || name == "endswith") {
      const Value* p = a.arg(0, "prefix");
      if (!p) fail(line, name + " needs an argument");
      List options = p->is_list() ? *p->list : List{*p};
      for (const Value& o : options) {
        const std::string& x = need_string(o, name, line);
        const bool hit = name == "startswith" ? s.compare(0, x.size(), x) == 0
                                              : s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
        if (hit) return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    if (name == "split") {
      const Value* ms = a.arg(1, "maxsplit");
      return Value::list_of(split(s, a.arg(0, "sep"), ms ? need_int(*ms, "maxsplit", line) : -1, line));
    }
    if (name == "rsplit") {
      const Value* sep = a.arg(0, "sep");
      const Value* ms = a.arg(1, "maxsplit");
      const int64_t max = ms ? need_int(*ms, "maxsplit", line) : -1;
      if (max < 0 || !sep || sep->is_none()) return Value::list_of(split(s, sep, max, line));
      const std::string& d = need_string(*sep, "rsplit", line);
      List out;
      size_t end = s.size();
      while (static_cast<int64_t>(out.size()) < max) {
        const size_t f = end >= d.size() ? s.rfind(d, end - d.size()) : std::string::npos;
        if (f == std::string::npos || d.empty()) break;
        out.insert(out.begin(), Value::string(s.substr(f + d.size(), end - f - d.size())));
        end = f;
      }
      out.insert(out.begin(), Value::string(s.substr(0, end)));
      return Value::list_of(std::move(out));
    }
    if (name == "splitlines") {
      List out;
      size_t pos = 0;
      while (pos < s.size()) {
        size_t nl = s.find('\n', pos);
        if (nl == std::string::npos) nl = s.size();
        std::string ln = s.substr(pos, nl - pos);
        if (!ln.empty() && ln.back() == '\r') ln.pop_back();
        out.push_back(Value::string(ln));
        pos = nl + 1;
      }
      return Value::list_of(std::move(out));
    }
    if (name == "replace") {
      if (a.positional.size() < 2) fail(line, "replace needs (old, new)");
      const Value* cnt = a.arg(2, "count");
      return Value::string(replace_all(s, need_string(a.positional[0], "replace", line),
                                       need_string(a.positional[1], "replace", line),
                                       cnt ? need_int(*cnt, "replace count", line) : -1));
    }
    if (name == "find" || name == "count" || name == "index" || name == "rfind") {
      const Value* x = a.arg(0, "sub");
      if (!x) fail(line, name + " needs an argument");
      const std::string& sub = need_string(*x, name, line);
      if (name == "count") {
        if (sub.empty()) return Value::integer(static_cast<int64_t>(codepoint_offsets(s).size()));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value::integer(n);
      }
      const size_t p = name == "rfind" ? s.rfind(sub) : s.find(sub);
      if (p == std::string::npos) {
        if (name == "index") fail(line, "substring not found");
        return Value::integer(-1);
      }
      // Python returns a code-point index.
      const auto offs = codepoint_offsets(s);
      return Value::integer(static_cast<int64_t>(std::lower_bound(offs.begin(), offs.end(), p) - offs.begin()));
    }
    if (name == "format") {  // Python str.format: {}, {0}, {name}; {{ and }} are braces
      std::string out;
      size_t auto_index = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '{') {
          out += '{';
          ++i;
        } else if (s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') {
          out += '}';
          ++i;
        } else if (s[i] == '{') {
          const size_t end = s.find('}', i);
          if (end == std::string::npos) fail(line, "Single '{' encountered in format string");
          const std::string field = s.substr(i + 1, end - i - 1);
          if (field.find_first_of(":!") != std::string::npos) fail(line, "format specs are not supported: {" + field + "}");
          const Value* v = nullptr;
          if (field.empty()) v = auto_index < a.positional.size() ? &a.positional[auto_index++] : nullptr;
          else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
            size_t k = 0;
            const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), k);
            if (ec != std::errc() || end != field.data() + field.size()) fail(line, "format: invalid field {" + field + "}");
            v = k < a.positional.size() ? &a.positional[k] : nullptr;
          } else {
            v = a.kw(field);
          }
          if (!v) fail(line, "format: no value for {" + field + "}");
          out += to_str(*v);
          i = end;
        } else if (s[i] == '}') {
          fail(line, "Single '}' encountered in format string");
        } else {
          out += s[i];
        }
      }
      return Value::string(out);
    }
    if (name == "join") {
      const Value* items = a.arg(0, "iterable");
      if (!items) fail(line, "join needs an argument");
      std::string out;
      bool first = true;
      for (const Value& it : iterate(*items, line)) {
        if (!first) out += s;
        first = false;
        out += need_string(it, "join", line);
      }
      return Value::string(out);
    }
    if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
      if (s.empty()) return Value::boolean(false);
      for (unsigned char c : s) {
        const bool ok = name == "isdigit" ? std::isdigit(c) : name == "isspace" ? is_space_ascii(static_cast<char>(c))
                        : name == "isalpha" ? (std::isalpha(c) || c >= 0x80) : (std::isalnum(c) || c >= 0x80);
        if (!ok) return Value::boolean(false);
      }
      return Value::boolean(true);
    }
    return std::nullopt;
  }
  if (obj.is_dict() && !obj.is_namespace) {
    if (name == "items") return apply_filter("items", obj, a);
    if (name == "keys") return Value::list_of(iterate(obj, line));
    if (name == "values") {
      List out;
      for (const auto& kv : obj.dict->items) out.push_back(kv.second);
      return Value::list_of(std::move(out));
    }
    if (name == "get") {
      const Value* k = a.arg(0, "key");
      if (!k) fail(line, "get needs a key");
      if (const Value* v = obj.dict->find(dict_key(*k))) return *v;
      const Value* d = a.arg(1, "default");
      return d ? *d : Value::none();
    }
    return std::nullopt;
  }
  if (obj.is_list()) {
    if (name == "index" || name == "count") {
      const Value* x = a.arg(0, "value");
      if (!x) fail(line, name + " needs an argument");
      int64_t n = 0;
      for (size_t k = 0; k < obj.list->size(); ++k)
        if (equals((*obj.list)[k], *x)) {
          if (name == "index") return Value::integer(static_cast<int64_t>(k));
          ++n;
        }
      if (name == "index") fail(line, "value is not in list");
      return Value::integer(n);
    }
  }
  return std::nullopt;
}

void install_globals(Dict& g) {
  g.set("range", Value::function([](CallArgs& a) {
          const int line = a.line;
          int64_t start = 0, stop = 0, step = 1;
          if (a.positional.size() == 1) stop = need_int(a.positional[0], "range", line);
          else if (a.positional.size() >= 2) {
            start = need_int(a.positional[0], "range", line);
            stop = need_int(a.positional[1], "range", line);
            if (a.positional.size() > 2) step = need_int(a.positional[2], "range", line);
          } else fail(line, "range needs an argument");
          if (step == 0) fail(line, "range() arg 3 must not be zero");
          List out;
          for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
            out.push_back(Value::integer(k));
            if (out.size() > 10'000'000) fail(line, "range too large");
          }
          return Value::list_of(std::move(out));
        }));
  g.set("namespace", Value::function([](CallArgs& a) {
          Dict d;
          for (const Value& p : a.positional)  // namespace(some_dict)
            if (p.is_dict())
              for (const auto& kv : p.dict->items) d.set(kv.first, kv.second);
          for (auto& kv : a.keyword) d.set(kv.first, kv.second);
          Value v = Value::dict_of(std::move(d));
          v.is_namespace = true;
          return v;
        }));
  g.set("dict", Value::function([](CallArgs& a) {
          Dict d;
          for (auto& kv : a.keyword) d.set(kv.first, kv.second);
          return Value::dict_of(std::move(d));
        }));
  g.set("raise_exception", Value::function([](CallArgs& a) -> Value {
          throw RaisedByTemplate{a.positional.empty() ? std::string() : to_str(a.positional[0])};
        }));
  g.set("strftime_now", Value::function([](CallArgs& a) {
          if (a.positional.empty()) fail(a.line, "strftime_now needs a format");
          return Value::string(strftime_now(to_str(a.positional[0])));
        }));
}

}  // namespace quantlab::text::jinja_detail
