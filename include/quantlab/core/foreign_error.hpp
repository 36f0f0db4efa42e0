#pragma once
// Readers of untrusted files call libraries that throw their own exception types (nlohmann::json,
// std::regex, std::filesystem, std::sto*, .at(), allocation of sizes read from a file). None of
// them may leave the library: at each reader's boundary they become quantlab::Error naming the file
// and, where the reader knows it, the field. A quantlab::Error passes through unchanged.
#include "quantlab/core/error.hpp"

#include <exception>
#include <string>

namespace quantlab {

// Call only inside a catch block: rethrows the exception being handled, as a quantlab::Error
// (source, field, "<what went wrong>: <the foreign message>") unless it already is one.
[[noreturn]] void rethrow_as_error(const std::string& source, const std::string& field);

// Runs `f()`; any foreign exception it throws leaves as a quantlab::Error naming source and field.
template <typename F>
decltype(auto) with_typed_errors(const std::string& source, const std::string& field, F&& f) {
  try {
    return f();
  } catch (...) {
    rethrow_as_error(source, field);
  }
}

}  // namespace quantlab
