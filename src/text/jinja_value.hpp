#pragma once
// Values of the Jinja subset, with Python's semantics where templates can observe them: str() and
// repr() of every type, truthiness, equality (1 == 1.0 == True), ordered dicts, Undefined.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace quantlab::text::jinja_detail {

struct Value;
using List = std::vector<Value>;
struct Dict;
struct CallArgs;
using Function = std::function<Value(CallArgs&)>;

struct Value {
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                   // String; for Undefined: the name that was missing
  std::shared_ptr<List> list;      // List (tuples too)
  std::shared_ptr<Dict> dict;      // Dict (and namespace() objects)
  std::shared_ptr<Function> fn;    // Function: macros, globals, bound methods
  bool is_namespace = false;       // a namespace(): the only mutable object
  // A List made by select/reject/selectattr/rejectattr/map: in Jinja2 these are generators, which
  // are always true, have no len() and are not JSON serializable (`| list` makes a real list).
  bool is_generator = false;
  // A String marked safe (`| safe`, `| e`): Jinja2's Markup, whose `+` HTML-escapes a plain operand.
  bool is_markup = false;

  static Value undefined(std::string name = "") {
    Value v;
    v.s = std::move(name);
    return v;
  }
  static Value none() { return make(Kind::None); }
  static Value boolean(bool x) {
    Value v = make(Kind::Bool);
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v = make(Kind::Int);
    v.i = x;
    return v;
  }
  static Value number(double x) {
    Value v = make(Kind::Float);
    v.f = x;
    return v;
  }
  static Value string(std::string x) {
    Value v = make(Kind::String);
    v.s = std::move(x);
    return v;
  }
  static Value list_of(List items) {
    Value v = make(Kind::List);
    v.list = std::make_shared<List>(std::move(items));
    return v;
  }
  static Value dict_of(Dict d);
  static Value function(Function f) {
    Value v = make(Kind::Function);
    v.fn = std::make_shared<Function>(std::move(f));
    return v;
  }

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_list() const { return kind == Kind::List; }
  bool is_dict() const { return kind == Kind::Dict; }

 private:
  static Value make(Kind k) {
    Value v;
    v.kind = k;
    return v;
  }
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order, as Python dicts
  const Value* find(const std::string& key) const {
    for (const auto& kv : items)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  void set(const std::string& key, Value v) {
    for (auto& kv : items)
      if (kv.first == key) {
        kv.second = std::move(v);
        return;
      }
    items.emplace_back(key, std::move(v));
  }
};

inline Value Value::dict_of(Dict d) {
  Value v = make(Kind::Dict);
  v.dict = std::make_shared<Dict>(std::move(d));
  return v;
}

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  int line = 0;
  const Value* kw(const std::string& name) const {
    for (const auto& kv : keyword)
      if (kv.first == name) return &kv.second;
    return nullptr;
  }
  // Positional index `pos` or keyword `name`, or nullptr.
  const Value* arg(size_t pos, const std::string& name) const {
    if (pos < positional.size()) return &positional[pos];
    return kw(name);
  }
};

// Raised inside evaluation; the renderer adds the template name.
struct EvalError {
  int line;
  std::string message;
};
// raise_exception(msg) from a template.
struct RaisedByTemplate {
  std::string message;
};

// Dict keys are strings; a non-string key (an int in a dict literal) is stored tagged, so that
// d[0] and d['0'] stay different as in Python.
std::string dict_key(const Value& key);
Value key_value(const std::string& stored);  // the key as the template sees it

bool truthy(const Value& v);
std::string to_str(const Value& v);   // Python str(); Undefined -> ""
std::string repr(const Value& v);     // Python repr()
std::string type_name(const Value& v);
bool equals(const Value& a, const Value& b);
double as_double(const Value& v);

Value from_json(const nlohmann::ordered_json& j);
// Python json.dumps(v, ensure_ascii=False, indent=indent, separators=..., sort_keys=...).
std::string to_json(const Value& v, int indent, const std::string& item_sep, const std::string& key_sep,
                    bool sort_keys, int line, bool ensure_ascii = false);
// markupsafe.escape: & < > " ' as HTML entities.
std::string html_escape(const std::string& s);

// UTF-8 code point helpers (Python strings index by code point).
std::vector<size_t> codepoint_offsets(const std::string& s);  // start offset of each code point, plus s.size()
std::string python_strip(const std::string& s, const Value* chars, bool left, bool right);
std::string python_float_repr(double d);

}  // namespace quantlab::text::jinja_detail
