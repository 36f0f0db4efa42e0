#pragma once
// Jinja2's built-in filters, tests, globals and the Python methods templates call on strings,
// dicts and lists (internal to the template engine).
#include "jinja_value.hpp"

#include <optional>
#include <string>

namespace quantlab::text::jinja_detail {

// obj.name as Jinja2 resolves it (dict key, namespace attribute, loop attribute); Undefined when
// absent; accessing an attribute of Undefined is an error.
Value get_attribute(const Value& obj, const std::string& name, int line);
// obj[key]; Undefined when absent.
Value get_item(const Value& obj, const Value& key, int line);

Value apply_filter(const std::string& name, const Value& v, CallArgs& args);
bool apply_test(const std::string& name, const Value& v, CallArgs& args);
// A method of a str/dict/list (strip, split, items, get, ...); nullopt when `obj` has no such method.
std::optional<Value> call_method(const Value& obj, const std::string& name, CallArgs& args);

// range, namespace, dict, raise_exception, strftime_now.
void install_globals(Dict& globals);

// Python-style iteration: list items, dict keys, string code points; error for other types.
List iterate(const Value& v, int line);

}  // namespace quantlab::text::jinja_detail
