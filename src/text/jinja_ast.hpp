#pragma once
// Syntax tree of the Jinja subset: expressions and statements, each carrying its source line.
#include "jinja_value.hpp"

#include <memory>
#include <string>
#include <vector>

namespace quantlab::text::jinja_detail {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,   // value
    Name,      // name
    Attr,      // a.name
    Item,      // a[b]
    Slice,     // a[b:c:d] (children may be null)
    Call,      // a(args)
    Filter,    // a | name(args)
    Test,      // a is [not] name(args)
    Unary,     // op a   (op: "-", "+", "not")
    Binary,    // a op b (op: + - * / // % ** ~ and or)
    Compare,   // a op b op c ... (ops: == != < > <= >= in notin)
    Cond,      // a if b else c
    ListLit,   // [a, b]
    TupleLit,  // (a, b)
    DictLit,   // {k: v}
  };
  Kind kind;
  int line = 0;
  Value value;                      // Literal
  std::string name;                 // Name, Attr, Filter, Test; operator for Unary/Binary
  std::vector<ExprPtr> children;    // operands / list items / dict keys+values interleaved
  std::vector<std::string> ops;     // Compare operators
  std::vector<ExprPtr> args;        // Call/Filter/Test positional arguments
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;             // Test: `is not`
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, Block, FilterBlock };
  Kind kind;
  int line = 0;
  std::string text;                                  // Text
  ExprPtr expr;                                      // Output, Set value, For iterable
  std::vector<std::pair<ExprPtr, Body>> branches;    // If: (condition, body) ...
  Body body, else_body;                              // For, SetBlock, Macro, Block; If/For else
  std::vector<std::string> targets;                  // For/Set names (several: unpacking)
  std::string attr;                                  // Set ns.attr: targets[0] is ns
  ExprPtr filter;                                    // For ... if cond
  std::string name;                                  // Macro name
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro parameters with defaults
  std::vector<ExprPtr> filters;                      // FilterBlock: Filter expressions (no operand)
};

struct Program {
  Body body;
};

// Parses template source into a Program; throws Error(name, "line N", message).
std::unique_ptr<Program> parse_template(std::string_view source, const std::string& name);

}  // namespace quantlab::text::jinja_detail
