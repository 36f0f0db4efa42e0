// Recursive-descent parser with Jinja2's operator precedence:
//   cond-expr < or < and < not < compare (==, in, ...) < + - < ~ < * / // % < ** < unary
//   < primary with postfix (.attr, [item], [a:b], (call)), filters (|f) and tests (is t).
#include "jinja_ast.hpp"
#include "jinja_lexer.hpp"

#include "quantlab/core/error.hpp"

#include <cstdlib>

namespace quantlab::text::jinja_detail {
namespace {

using T = Token::Type;

class Parser {
 public:
  Parser(std::vector<Token> toks, const std::string& name) : t_(std::move(toks)), name_(name) {}

  std::unique_ptr<Program> program() {
    auto p = std::make_unique<Program>();
    std::string stop = parse_body(p->body, {});
    if (!stop.empty()) fail(cur().line, "unexpected '{% " + stop + " %}'");
    return p;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& msg) { throw Error(name_, "line " + std::to_string(line), msg); }
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().type == T::Op && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == T::Name && cur().value == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(cur().line, std::string("expected '") + op + "'" + got());
    ++i_;
  }
  std::string got() const {
    switch (cur().type) {
      case T::BlockEnd: return ", got the end of the tag";
      case T::VarEnd: return ", got '}}'";
      case T::Eof: return ", got the end of the template";
      default: return ", got '" + cur().value + "'";
    }
  }
  std::string expect_name() {
    if (cur().type != T::Name) fail(cur().line, "expected a name" + got());
    return t_[i_++].value;
  }
  void expect_block_end() {
    if (cur().type != T::BlockEnd) fail(cur().line, "expected the end of the tag" + got());
    ++i_;
  }

  // Parses nodes until a block tag whose keyword is in `stops`; returns that keyword (the tag's
  // remainder is left for the caller) or "" at the end of input.
  std::string parse_body(Body& body, const std::vector<std::string>& stops) {
    while (cur().type != T::Eof) {
      const Token& tk = cur();
      if (tk.type == T::Text) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::Text;
        n->line = tk.line;
        n->text = tk.value;
        body.push_back(std::move(n));
        ++i_;
      } else if (tk.type == T::VarBegin) {
        ++i_;
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::Output;
        n->line = tk.line;
        n->expr = expression();
        if (cur().type != T::VarEnd) fail(cur().line, "expected '}}'" + got());
        ++i_;
        body.push_back(std::move(n));
      } else if (tk.type == T::BlockBegin) {
        const Token& kw = peek();
        if (kw.type != T::Name) fail(kw.line, "expected a statement keyword");
        for (const auto& s : stops)
          if (kw.value == s) {
            i_ += 2;
            return s;
          }
        i_ += 2;
        body.push_back(statement(kw.value, kw.line));
      } else {
        fail(tk.line, "unexpected token");
      }
    }
    return "";
  }

  NodePtr statement(const std::string& kw, int line) {
    DepthGuard guard(*this, line);
    auto n = std::make_unique<Node>();
    n->line = line;
    if (kw == "if") {
      n->kind = Node::Kind::If;
      ExprPtr cond = expression();
      expect_block_end();
      while (true) {
        Body b;
        const std::string stop = parse_body(b, {"elif", "else", "endif"});
        if (stop.empty()) fail(line, "'{% if %}' without '{% endif %}'");
        n->branches.emplace_back(std::move(cond), std::move(b));
        if (stop == "elif") {
          cond = expression();
          expect_block_end();
          continue;
        }
        if (stop == "else") {
          expect_block_end();
          if (parse_body(n->else_body, {"endif"}).empty()) fail(line, "'{% if %}' without '{% endif %}'");
        }
        expect_block_end();
        break;
      }
    } else if (kw == "for") {
      n->kind = Node::Kind::For;
      n->targets.push_back(expect_name());
      while (is_op(",")) {
        ++i_;
        n->targets.push_back(expect_name());
      }
      if (!is_name("in")) fail(cur().line, "expected 'in'" + got());
      ++i_;
      n->expr = condexpr(false);
      if (is_name("if")) {
        ++i_;
        n->filter = condexpr(true);
      }
      if (is_name("recursive")) fail(cur().line, "recursive loops are not supported");
      expect_block_end();
      const std::string stop = parse_body(n->body, {"else", "endfor"});
      if (stop.empty()) fail(line, "'{% for %}' without '{% endfor %}'");
      if (stop == "else") {
        expect_block_end();
        if (parse_body(n->else_body, {"endfor"}).empty()) fail(line, "'{% for %}' without '{% endfor %}'");
      }
      expect_block_end();
    } else if (kw == "set") {
      const std::string first = expect_name();
      if (is_op(".")) {
        ++i_;
        n->attr = expect_name();
      }
      n->targets.push_back(first);
      while (is_op(",")) {
        ++i_;
        n->targets.push_back(expect_name());
      }
      if (is_op("=")) {
        ++i_;
        n->kind = Node::Kind::Set;
        n->expr = tuple_or_expr();
        expect_block_end();
      } else {
        n->kind = Node::Kind::SetBlock;
        if (n->targets.size() != 1 || !n->attr.empty()) fail(line, "a block set takes one name");
        expect_block_end();
        if (parse_body(n->body, {"endset"}).empty()) fail(line, "'{% set %}' without '{% endset %}'");
        expect_block_end();
      }
    } else if (kw == "macro") {
      n->kind = Node::Kind::Macro;
      n->name = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        std::string p = expect_name();
        ExprPtr def;
        if (is_op("=")) {
          ++i_;
          def = expression();
        }
        n->params.emplace_back(std::move(p), std::move(def));
        if (is_op(",")) ++i_;
        else if (!is_op(")")) fail(cur().line, "expected ',' or ')'" + got());
      }
      ++i_;
      expect_block_end();
      if (parse_body(n->body, {"endmacro"}).empty()) fail(line, "'{% macro %}' without '{% endmacro %}'");
      expect_block_end();
    } else if (kw == "break" || kw == "continue") {
      n->kind = kw == "break" ? Node::Kind::Break : Node::Kind::Continue;
      expect_block_end();
    } else if (kw == "filter") {  // {% filter trim %}...{% endfilter %}
      n->kind = Node::Kind::FilterBlock;
      while (true) {
        auto f = make(Expr::Kind::Filter, cur().line);
        f->name = expect_name();
        if (is_op("(")) call_args(*f);
        n->filters.push_back(std::move(f));
        if (!is_op("|")) break;
        ++i_;
      }
      expect_block_end();
      if (parse_body(n->body, {"endfilter"}).empty()) fail(line, "'{% filter %}' without '{% endfilter %}'");
      expect_block_end();
    } else if (kw == "generation") {  // transformers' assistant-mask marker: renders its body as is
      n->kind = Node::Kind::Block;
      expect_block_end();
      if (parse_body(n->body, {"endgeneration"}).empty()) fail(line, "'{% generation %}' without end");
      expect_block_end();
    } else {
      fail(line, "unknown or unsupported statement '" + kw + "'");
    }
    return n;
  }

  ExprPtr make(Expr::Kind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  // `a, b` without parentheses (set right-hand sides).
  ExprPtr tuple_or_expr() {
    const int line = cur().line;
    ExprPtr first = expression();
    if (!is_op(",")) return first;
    auto t = make(Expr::Kind::TupleLit, line);
    t->children.push_back(std::move(first));
    while (is_op(",")) {
      ++i_;
      t->children.push_back(expression());
    }
    return t;
  }

  // Nesting limit: a hostile template must give an error, not exhaust the stack.
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser, int line) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.fail(line, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    ~DepthGuard() { --p.depth_; }
  };
  static constexpr int kMaxDepth = 256;

  ExprPtr expression() {
    DepthGuard guard(*this, cur().line);
    return condexpr(true);
  }

  ExprPtr condexpr(bool allow_cond) {
    ExprPtr e = or_expr();
    while (allow_cond && is_name("if")) {
      const int line = cur().line;
      ++i_;
      auto c = make(Expr::Kind::Cond, line);
      ExprPtr test = or_expr();
      ExprPtr other;
      if (is_name("else")) {
        ++i_;
        other = condexpr(true);
      }
      c->children.push_back(std::move(test));
      c->children.push_back(std::move(e));
      c->children.push_back(std::move(other));  // may be null: undefined
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(ExprPtr l, const std::string& op, ExprPtr r, int line) {
    auto b = make(Expr::Kind::Binary, line);
    b->name = op;
    b->children.push_back(std::move(l));
    b->children.push_back(std::move(r));
    return b;
  }

  ExprPtr or_expr() {
    ExprPtr l = and_expr();
    while (is_name("or")) {
      const int line = cur().line;
      ++i_;
      l = binary(std::move(l), "or", and_expr(), line);
    }
    return l;
  }
  ExprPtr and_expr() {
    ExprPtr l = not_expr();
    while (is_name("and")) {
      const int line = cur().line;
      ++i_;
      l = binary(std::move(l), "and", not_expr(), line);
    }
    return l;
  }
  ExprPtr not_expr() {
    if (is_name("not")) {
      auto u = make(Expr::Kind::Unary, cur().line);
      ++i_;
      u->name = "not";
      u->children.push_back(not_expr());
      return u;
    }
    return compare();
  }
  ExprPtr compare() {
    ExprPtr first = math1();
    std::unique_ptr<Expr> c;
    while (true) {
      std::string op;
      if (cur().type == T::Op && (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                                  cur().value == ">" || cur().value == "<=" || cur().value == ">=")) {
        op = cur().value;
        ++i_;
      } else if (is_name("in")) {
        op = "in";
        ++i_;
      } else if (is_name("not") && peek().type == T::Name && peek().value == "in") {
        op = "notin";
        i_ += 2;
      } else {
        break;
      }
      if (!c) {
        c = make(Expr::Kind::Compare, first->line);
        c->children.push_back(std::move(first));
      }
      c->ops.push_back(op);
      c->children.push_back(math1());
    }
    return c ? std::move(c) : std::move(first);
  }
  ExprPtr math1() {
    ExprPtr l = concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().value;
      const int line = cur().line;
      ++i_;
      l = binary(std::move(l), op, concat(), line);
    }
    return l;
  }
  ExprPtr concat() {
    ExprPtr l = math2();
    while (is_op("~")) {
      const int line = cur().line;
      ++i_;
      l = binary(std::move(l), "~", math2(), line);
    }
    return l;
  }
  ExprPtr math2() {
    ExprPtr l = power();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().value;
      const int line = cur().line;
      ++i_;
      l = binary(std::move(l), op, power(), line);
    }
    return l;
  }
  ExprPtr power() {
    ExprPtr l = unary(true);
    while (is_op("**")) {
      const int line = cur().line;
      ++i_;
      l = binary(std::move(l), "**", unary(true), line);
    }
    return l;
  }
  ExprPtr unary(bool with_filter) {
    DepthGuard guard(*this, cur().line);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      auto u = make(Expr::Kind::Unary, cur().line);
      u->name = cur().value;
      ++i_;
      u->children.push_back(unary(false));
      e = std::move(u);
    } else {
      e = postfix(primary());
    }
    if (with_filter) e = filters_and_tests(std::move(e));
    return e;
  }

  void call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (cur().type == T::Name && peek().type == T::Op && peek().value == "=") {
        std::string k = t_[i_].value;
        i_ += 2;
        e.kwargs.emplace_back(std::move(k), expression());
      } else {
        e.args.push_back(expression());
      }
      if (is_op(",")) ++i_;
      else if (!is_op(")")) fail(cur().line, "expected ',' or ')'" + got());
    }
    ++i_;
  }

  ExprPtr postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        const int line = cur().line;
        ++i_;
        auto a = make(Expr::Kind::Attr, line);
        if (cur().type == T::Int) a->name = t_[i_++].value;  // foo.0
        else a->name = expect_name();
        a->children.push_back(std::move(e));
        e = std::move(a);
      } else if (is_op("[")) {
        const int line = cur().line;
        ++i_;
        ExprPtr parts[3];
        int n = 0;
        bool slice = false;
        while (true) {
          if (is_op(":")) {
            slice = true;
            ++i_;
            if (++n > 2) fail(line, "too many ':' in a slice");
            continue;
          }
          if (is_op("]")) break;
          parts[n] = expression();
          if (!is_op(":") && !is_op("]")) fail(cur().line, "expected ']'" + got());
        }
        ++i_;
        if (slice) {
          auto s = make(Expr::Kind::Slice, line);
          s->children.push_back(std::move(e));
          for (auto& p : parts) s->children.push_back(std::move(p));
          e = std::move(s);
        } else {
          if (!parts[0]) fail(line, "empty subscript");
          auto it = make(Expr::Kind::Item, line);
          it->children.push_back(std::move(e));
          it->children.push_back(std::move(parts[0]));
          e = std::move(it);
        }
      } else if (is_op("(")) {
        auto c = make(Expr::Kind::Call, cur().line);
        c->children.push_back(std::move(e));
        call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr filters_and_tests(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        const int line = cur().line;
        ++i_;
        auto f = make(Expr::Kind::Filter, line);
        f->name = expect_name();
        if (is_op("(")) call_args(*f);
        f->children.push_back(std::move(e));
        e = std::move(f);
      } else if (is_name("is")) {
        const int line = cur().line;
        ++i_;
        auto t = make(Expr::Kind::Test, line);
        if (is_name("not")) {
          t->negated = true;
          ++i_;
        }
        t->name = expect_name();
        if (is_op("(")) {
          call_args(*t);
        } else if ((cur().type == T::Name && !is_name("else") && !is_name("or") && !is_name("and") &&
                    !is_name("is") && !is_name("if") && !is_name("in") && !is_name("not")) ||
                   cur().type == T::String || cur().type == T::Int || cur().type == T::Float ||
                   is_op("[") || is_op("{")) {
          t->args.push_back(postfix(primary()));
        }
        t->children.push_back(std::move(e));
        e = std::move(t);
      } else if (is_op("(")) {
        e = postfix(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr primary() {
    const Token& tk = cur();
    const int line = tk.line;
    switch (tk.type) {
      case T::Name: {
        ++i_;
        auto lit = make(Expr::Kind::Literal, line);
        if (tk.value == "true" || tk.value == "True") lit->value = Value::boolean(true);
        else if (tk.value == "false" || tk.value == "False") lit->value = Value::boolean(false);
        else if (tk.value == "none" || tk.value == "None") lit->value = Value::none();
        else {
          auto n = make(Expr::Kind::Name, line);
          n->name = tk.value;
          return n;
        }
        return lit;
      }
      case T::String: {
        std::string s;
        while (cur().type == T::String) s += t_[i_++].value;  // adjacent literals concatenate
        auto lit = make(Expr::Kind::Literal, line);
        lit->value = Value::string(std::move(s));
        return lit;
      }
      case T::Int: {
        ++i_;
        auto lit = make(Expr::Kind::Literal, line);
        lit->value = Value::integer(std::strtoll(tk.value.c_str(), nullptr, 10));
        return lit;
      }
      case T::Float: {
        ++i_;
        auto lit = make(Expr::Kind::Literal, line);
        lit->value = Value::number(std::strtod(tk.value.c_str(), nullptr));
        return lit;
      }
      case T::Op:
        if (tk.value == "(") {
          ++i_;
          if (is_op(")")) {
            ++i_;
            return make(Expr::Kind::TupleLit, line);
          }
          ExprPtr e = expression();
          if (is_op(",")) {
            auto t = make(Expr::Kind::TupleLit, line);
            t->children.push_back(std::move(e));
            while (is_op(",")) {
              ++i_;
              if (is_op(")")) break;
              t->children.push_back(expression());
            }
            e = std::move(t);
          }
          expect_op(")");
          return e;
        }
        if (tk.value == "[") {
          ++i_;
          auto l = make(Expr::Kind::ListLit, line);
          while (!is_op("]")) {
            l->children.push_back(expression());
            if (is_op(",")) ++i_;
            else if (!is_op("]")) fail(cur().line, "expected ',' or ']'" + got());
          }
          ++i_;
          return l;
        }
        if (tk.value == "{") {
          ++i_;
          auto d = make(Expr::Kind::DictLit, line);
          while (!is_op("}")) {
            d->children.push_back(expression());
            expect_op(":");
            d->children.push_back(expression());
            if (is_op(",")) ++i_;
            else if (!is_op("}")) fail(cur().line, "expected ',' or '}'" + got());
          }
          ++i_;
          return d;
        }
        break;
      default: break;
    }
    fail(line, "expected an expression" + got());
  }

  std::vector<Token> t_;
  const std::string& name_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

std::unique_ptr<Program> parse_template(std::string_view source, const std::string& name) {
  return Parser(tokenize(source, name), name).program();
}

}  // namespace quantlab::text::jinja_detail
