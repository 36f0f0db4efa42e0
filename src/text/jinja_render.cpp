// Evaluation of the Jinja subset. Scoping follows Jinja2: a for loop's body has its own scope
// (a `set` inside does not leak out, hence namespace()); if blocks do not; macros see the
// template's top level and their arguments.
#include "jinja_ast.hpp"
#include "jinja_builtins.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/text/jinja.hpp"

#include <cmath>
#include <unordered_map>

namespace quantlab::text {
namespace jinja_detail {
namespace {

[[noreturn]] void fail(int line, const std::string& msg) { throw EvalError{line, msg}; }

using Frame = std::unordered_map<std::string, Value>;
enum class Flow { Normal, Break, Continue };

class Renderer {
 public:
  explicit Renderer(Frame globals) { scopes_.push_back(std::make_shared<Frame>(std::move(globals))); }

  Flow render(const Body& body, std::string& out) {
    for (const NodePtr& n : body) {
      const Flow f = render(*n, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

 private:
  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = (*it)->find(name);
      if (f != (*it)->end()) return f->second;
    }
    return Value::undefined(name);
  }
  void assign(const std::string& name, Value v) { (*scopes_.back())[name] = std::move(v); }

  void assign_targets(const std::vector<std::string>& targets, const Value& v, int line) {
    if (targets.size() == 1) {
      assign(targets[0], v);
      return;
    }
    List items = iterate(v, line);
    if (items.size() != targets.size())
      fail(line, "cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(targets.size()) + " names");
    for (size_t k = 0; k < targets.size(); ++k) assign(targets[k], items[k]);
  }

  Flow render(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::Text: out += n.text; return Flow::Normal;
      case Node::Kind::Output: out += to_str(eval(*n.expr)); return Flow::Normal;
      case Node::Kind::If:
        for (const auto& [cond, body] : n.branches)
          if (truthy(eval(*cond))) return render(body, out);
        return render(n.else_body, out);
      case Node::Kind::For: return render_for(n, out);
      case Node::Kind::Set: {
        Value v = eval(*n.expr);
        if (!n.attr.empty()) {
          Value ns = lookup(n.targets[0]);
          if (!ns.is_namespace) fail(n.line, "cannot assign attribute on non-namespace object '" + n.targets[0] + "'");
          ns.dict->set(n.attr, std::move(v));
        } else {
          assign_targets(n.targets, v, n.line);
        }
        return Flow::Normal;
      }
      case Node::Kind::SetBlock: {
        std::string captured;
        render(n.body, captured);
        assign(n.targets[0], Value::string(std::move(captured)));
        return Flow::Normal;
      }
      case Node::Kind::Macro: assign(n.name, make_macro(n)); return Flow::Normal;
      case Node::Kind::Break: return Flow::Break;
      case Node::Kind::Continue: return Flow::Continue;
      case Node::Kind::Block: return render(n.body, out);
      case Node::Kind::FilterBlock: {
        std::string captured;
        render(n.body, captured);
        Value v = Value::string(std::move(captured));
        for (const auto& f : n.filters) {
          CallArgs a = eval_args(*f);
          v = apply_filter(f->name, v, a);
        }
        out += to_str(v);
        return Flow::Normal;
      }
    }
    return Flow::Normal;
  }

  Flow render_for(const Node& n, std::string& out) {
    const Value seq = eval(*n.expr);
    if (seq.is_none()) fail(n.line, "'NoneType' object is not iterable");
    List items = iterate(seq, n.line);
    auto frame = std::make_shared<Frame>();
    scopes_.push_back(frame);
    if (n.filter) {  // `for x in xs if cond`: filtered before loop.* is counted
      List kept;
      for (const Value& item : items) {
        frame->clear();
        assign_targets(n.targets, item, n.line);
        if (truthy(eval(*n.filter))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const auto len = static_cast<int64_t>(items.size());
    for (int64_t k = 0; k < len; ++k) {
      frame->clear();
      assign_targets(n.targets, items[static_cast<size_t>(k)], n.line);
      Dict loop;
      loop.set("index", Value::integer(k + 1));
      loop.set("index0", Value::integer(k));
      loop.set("revindex", Value::integer(len - k));
      loop.set("revindex0", Value::integer(len - k - 1));
      loop.set("first", Value::boolean(k == 0));
      loop.set("last", Value::boolean(k == len - 1));
      loop.set("length", Value::integer(len));
      loop.set("depth", Value::integer(1));
      loop.set("depth0", Value::integer(0));
      loop.set("previtem", k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined("previtem"));
      loop.set("nextitem", k + 1 < len ? items[static_cast<size_t>(k + 1)] : Value::undefined("nextitem"));
      loop.set("cycle", Value::function([k](CallArgs& a) {
                 if (a.positional.empty()) fail(a.line, "loop.cycle needs arguments");
                 return a.positional[static_cast<size_t>(k) % a.positional.size()];
               }));
      (*frame)["loop"] = Value::dict_of(std::move(loop));
      if (render(n.body, out) == Flow::Break) break;
    }
    scopes_.pop_back();
    if (len == 0) return render(n.else_body, out);
    return Flow::Normal;
  }

  Value make_macro(const Node& n) {
    const Node* node = &n;
    return Value::function([this, node](CallArgs& a) {
      if (call_depth_ >= kMaxCallDepth) fail(a.line, "macro calls nested deeper than " + std::to_string(kMaxCallDepth));
      struct Depth {
        int& d;
        explicit Depth(int& x) : d(x) { ++d; }
        ~Depth() { --d; }
      } depth(call_depth_);
      auto frame = std::make_shared<Frame>();
      size_t pos = 0;
      for (const auto& [pname, def] : node->params) {
        if (pos < a.positional.size()) (*frame)[pname] = a.positional[pos++];
        else if (const Value* kv = a.kw(pname)) (*frame)[pname] = *kv;
        else if (def) (*frame)[pname] = eval(*def);
        else (*frame)[pname] = Value::undefined(pname);
      }
      auto saved = std::move(scopes_);
      scopes_ = {saved.front(), frame};
      std::string out;
      try {
        render(node->body, out);
      } catch (...) {
        scopes_ = std::move(saved);
        throw;
      }
      scopes_ = std::move(saved);
      return Value::string(std::move(out));
    });
  }

  CallArgs eval_args(const Expr& e) {
    CallArgs a;
    a.line = e.line;
    for (const auto& x : e.args) a.positional.push_back(eval(*x));
    for (const auto& [k, x] : e.kwargs) a.keyword.emplace_back(k, eval(*x));
    return a;
  }

  static void require_defined(const Value& v, int line) {
    if (v.is_undefined()) fail(line, "'" + (v.s.empty() ? std::string("value") : v.s) + "' is undefined");
  }

  Value arithmetic(const std::string& op, const Value& l, const Value& r, int line) {
    require_defined(l, line);
    require_defined(r, line);
    if (op == "+") {
      if (l.is_string() && r.is_string()) {
        if (!l.is_markup && !r.is_markup) return Value::string(l.s + r.s);
        // Markup + str escapes the plain side (markupsafe), and stays Markup.
        Value m = Value::string((l.is_markup ? l.s : html_escape(l.s)) + (r.is_markup ? r.s : html_escape(r.s)));
        m.is_markup = true;
        return m;
      }
      if (l.is_list() && r.is_list()) {
        List out = *l.list;
        out.insert(out.end(), r.list->begin(), r.list->end());
        return Value::list_of(std::move(out));
      }
    }
    if (op == "*" && (l.is_string() || r.is_string()) && (l.kind == Value::Kind::Int || r.kind == Value::Kind::Int)) {
      const Value& s = l.is_string() ? l : r;
      const int64_t n = l.is_string() ? r.i : l.i;
      std::string out;
      for (int64_t k = 0; k < n; ++k) out += s.s;
      return Value::string(out);
    }
    if (!l.is_number() || !r.is_number())
      fail(line, "unsupported operand type(s) for " + op + ": '" + type_name(l) + "' and '" + type_name(r) + "'");
    const bool ints = l.kind != Value::Kind::Float && r.kind != Value::Kind::Float;
    const int64_t li = l.kind == Value::Kind::Bool ? l.b : l.i, ri = r.kind == Value::Kind::Bool ? r.b : r.i;
    const double lf = as_double(l), rf = as_double(r);
    if (op == "+") return ints ? Value::integer(li + ri) : Value::number(lf + rf);
    if (op == "-") return ints ? Value::integer(li - ri) : Value::number(lf - rf);
    if (op == "*") return ints ? Value::integer(li * ri) : Value::number(lf * rf);
    if (op == "/") {
      if (rf == 0) fail(line, "division by zero");
      return Value::number(lf / rf);
    }
    if (op == "//" || op == "%") {
      if (rf == 0) fail(line, "integer division or modulo by zero");
      if (ints) {
        int64_t q = li / ri, m = li % ri;
        if (m != 0 && ((m < 0) != (ri < 0))) --q, m += ri;  // Python floors
        return Value::integer(op == "//" ? q : m);
      }
      const double q = std::floor(lf / rf);
      return Value::number(op == "//" ? q : lf - q * rf);
    }
    if (op == "**") {
      if (ints && ri >= 0) {
        int64_t p = 1;
        for (int64_t k = 0; k < ri; ++k) p *= li;
        return Value::integer(p);
      }
      return Value::number(std::pow(lf, rf));
    }
    fail(line, "unknown operator " + op);
  }

  bool compare(const std::string& op, const Value& l, const Value& r, int line) {
    if (op == "==") return equals(l, r);
    if (op == "!=") return !equals(l, r);
    if (op == "in" || op == "notin") {
      bool found = false;
      if (r.is_string()) {
        if (!l.is_string()) fail(line, "'in <string>' requires string as left operand, not " + type_name(l));
        found = r.s.find(l.s) != std::string::npos;
      } else if (r.is_dict()) {
        found = r.dict->find(dict_key(l)) != nullptr;
      } else if (r.is_list()) {
        for (const Value& x : *r.list) found = found || equals(x, l);
      } else if (!r.is_undefined()) {
        fail(line, "argument of type '" + type_name(r) + "' is not iterable");
      }
      return op == "in" ? found : !found;
    }
    int c;
    if (l.is_number() && r.is_number()) {
      const double a = as_double(l), b = as_double(r);
      c = a < b ? -1 : a > b ? 1 : 0;
    } else if (l.is_string() && r.is_string()) {
      c = l.s < r.s ? -1 : l.s > r.s ? 1 : 0;
    } else {
      fail(line, "'" + op + "' not supported between instances of '" + type_name(l) + "' and '" + type_name(r) + "'");
    }
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    return c >= 0;
  }

  Value slice(const Value& obj, const Expr& e) {
    require_defined(obj, e.line);
    auto opt = [&](size_t k) -> std::optional<int64_t> {
      if (!e.children[k]) return std::nullopt;
      Value v = eval(*e.children[k]);
      if (v.is_none()) return std::nullopt;
      if (v.kind != Value::Kind::Int) fail(e.line, "slice indices must be integers");
      return v.i;
    };
    const auto start = opt(1), stop = opt(2), step_o = opt(3);
    const int64_t step = step_o.value_or(1);
    if (step == 0) fail(e.line, "slice step cannot be zero");
    std::vector<size_t> offs;
    int64_t n;
    if (obj.is_list()) n = static_cast<int64_t>(obj.list->size());
    else if (obj.is_string()) {
      offs = codepoint_offsets(obj.s);
      n = static_cast<int64_t>(offs.size()) - 1;
    } else {
      fail(e.line, "'" + type_name(obj) + "' object is not subscriptable");
    }
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt, bool is_start) {
      if (!v) return dflt;
      int64_t x = *v < 0 ? *v + n : *v;
      if (step > 0) return std::clamp<int64_t>(x, 0, n);
      (void)is_start;
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t b = clamp(start, step > 0 ? 0 : n - 1, true), en = clamp(stop, step > 0 ? n : -1, false);
    List items;
    std::string s;
    for (int64_t k = b; step > 0 ? k < en : k > en; k += step) {
      if (obj.is_list()) items.push_back((*obj.list)[static_cast<size_t>(k)]);
      else s += obj.s.substr(offs[static_cast<size_t>(k)], offs[static_cast<size_t>(k) + 1] - offs[static_cast<size_t>(k)]);
    }
    return obj.is_list() ? Value::list_of(std::move(items)) : Value::string(std::move(s));
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.value;
      case Expr::Kind::Name: return lookup(e.name);
      case Expr::Kind::Attr: return get_attribute(eval(*e.children[0]), e.name, e.line);
      case Expr::Kind::Item: return get_item(eval(*e.children[0]), eval(*e.children[1]), e.line);
      case Expr::Kind::Slice: return slice(eval(*e.children[0]), e);
      case Expr::Kind::Call: {
        const Expr& callee = *e.children[0];
        CallArgs a = eval_args(e);
        if (callee.kind == Expr::Kind::Attr) {
          const Value obj = eval(*callee.children[0]);
          require_defined(obj, e.line);
          if (auto r = call_method(obj, callee.name, a)) return *r;
          const Value f = get_attribute(obj, callee.name, e.line);
          if (f.kind != Value::Kind::Function)
            fail(e.line, "'" + type_name(obj) + "' object has no method '" + callee.name + "'");
          return (*f.fn)(a);
        }
        const Value f = eval(callee);
        if (f.kind != Value::Kind::Function) {
          if (f.is_undefined()) fail(e.line, "'" + f.s + "' is undefined");
          fail(e.line, "'" + type_name(f) + "' object is not callable");
        }
        return (*f.fn)(a);
      }
      case Expr::Kind::Filter: {
        const Value v = eval(*e.children[0]);
        CallArgs a = eval_args(e);
        return apply_filter(e.name, v, a);
      }
      case Expr::Kind::Test: {
        const Value v = eval(*e.children[0]);
        CallArgs a = eval_args(e);
        return Value::boolean(apply_test(e.name, v, a) != e.negated);
      }
      case Expr::Kind::Unary: {
        const Value v = eval(*e.children[0]);
        if (e.name == "not") return Value::boolean(!truthy(v));
        require_defined(v, e.line);
        if (!v.is_number()) fail(e.line, "bad operand type for unary " + e.name + ": '" + type_name(v) + "'");
        if (e.name == "+") return v;
        if (v.kind == Value::Kind::Float) return Value::number(-v.f);
        return Value::integer(-(v.kind == Value::Kind::Bool ? v.b : v.i));
      }
      case Expr::Kind::Binary: {
        if (e.name == "and") {
          Value l = eval(*e.children[0]);
          return truthy(l) ? eval(*e.children[1]) : l;
        }
        if (e.name == "or") {
          Value l = eval(*e.children[0]);
          return truthy(l) ? l : eval(*e.children[1]);
        }
        const Value l = eval(*e.children[0]), r = eval(*e.children[1]);
        if (e.name == "~") return Value::string(to_str(l) + to_str(r));
        return arithmetic(e.name, l, r, e.line);
      }
      case Expr::Kind::Compare: {
        Value l = eval(*e.children[0]);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value r = eval(*e.children[k + 1]);
          if (!compare(e.ops[k], l, r, e.line)) return Value::boolean(false);
          l = std::move(r);
        }
        return Value::boolean(true);
      }
      case Expr::Kind::Cond:
        if (truthy(eval(*e.children[0]))) return eval(*e.children[1]);
        return e.children[2] ? eval(*e.children[2]) : Value::undefined();
      case Expr::Kind::ListLit:
      case Expr::Kind::TupleLit: {
        List items;
        for (const auto& c : e.children) items.push_back(eval(*c));
        return Value::list_of(std::move(items));
      }
      case Expr::Kind::DictLit: {
        Dict d;
        for (size_t k = 0; k + 1 < e.children.size(); k += 2) {
          const Value key = eval(*e.children[k]);
          if (key.is_list() || key.is_dict() || key.is_undefined()) fail(e.line, "unhashable dict key of type '" + type_name(key) + "'");
          d.set(dict_key(key), eval(*e.children[k + 1]));
        }
        return Value::dict_of(std::move(d));
      }
    }
    return Value::undefined();
  }

  std::vector<std::shared_ptr<Frame>> scopes_;
  int call_depth_ = 0;
  static constexpr int kMaxCallDepth = 64;
};

}  // namespace
}  // namespace jinja_detail

JinjaTemplate::JinjaTemplate(std::string_view source, std::string name)
    : name_(std::move(name)),
      program_(with_typed_errors(name_, "source", [&] { return jinja_detail::parse_template(source, name_); })) {}
JinjaTemplate::~JinjaTemplate() = default;
JinjaTemplate::JinjaTemplate(JinjaTemplate&&) noexcept = default;
JinjaTemplate& JinjaTemplate::operator=(JinjaTemplate&&) noexcept = default;

std::string JinjaTemplate::render(const nlohmann::ordered_json& context) const {
  using namespace jinja_detail;
  Dict globals;
  install_globals(globals);
  Frame frame;
  for (auto& kv : globals.items) frame[kv.first] = kv.second;
  if (!context.is_null() && !context.is_object()) throw Error(name_, "context", "expected a JSON object of variables");
  if (context.is_object())
    for (auto it = context.begin(); it != context.end(); ++it) frame[it.key()] = from_json(it.value());
  Renderer r(std::move(frame));
  std::string out;
  try {
    r.render(program_->body, out);
  } catch (const RaisedByTemplate& e) {
    throw Error(name_, "raise_exception", e.message);
  } catch (const EvalError& e) {
    throw Error(name_, "line " + std::to_string(e.line), e.message);
  } catch (...) {  // a foreign exception (allocation of a huge string, ...) names the template
    rethrow_as_error(name_, "render");
  }
  return out;
}

}  // namespace quantlab::text
