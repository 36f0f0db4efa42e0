#include "quantlab/core/foreign_error.hpp"

#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

namespace quantlab {
namespace {

// One line, no parser tag ("[json.exception.out_of_range.406] "), bounded length.
std::string one_line(const std::string& what) {
  std::string m = what;
  if (m.rfind("[json.exception.", 0) == 0) {
    if (const auto p = m.find("] "); p != std::string::npos) m = m.substr(p + 2);
  }
  std::string r;
  for (char c : m) r += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  return r.size() > 300 ? r.substr(0, 300) + "..." : r;
}

}  // namespace

void rethrow_as_error(const std::string& source, const std::string& field) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(source, field.empty() ? "JSON byte " + std::to_string(e.byte) : field, "invalid JSON: " + one_line(e.what()));
  } catch (const nlohmann::json::type_error& e) {
    throw Error(source, field, "unexpected JSON type: " + one_line(e.what()));
  } catch (const nlohmann::json::out_of_range& e) {
    throw Error(source, field, "JSON value out of range: " + one_line(e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(source, field, "invalid JSON: " + one_line(e.what()));
  } catch (const std::regex_error& e) {
    throw Error(source, field, "invalid regular expression: " + one_line(e.what()));
  } catch (const std::filesystem::filesystem_error& e) {
    throw Error(source, field, "file system: " + one_line(e.code().message()));
  } catch (const std::bad_alloc&) {
    throw Error(source, field, "sizes in the input need more memory than is available");
  } catch (const std::length_error& e) {
    throw Error(source, field, "a size in the input is too large: " + one_line(e.what()));
  } catch (const std::out_of_range& e) {
    throw Error(source, field, "a value or index is out of range: " + one_line(e.what()));
  } catch (const std::invalid_argument& e) {
    throw Error(source, field, "not a valid number: " + one_line(e.what()));
  } catch (const std::exception& e) {
    throw Error(source, field, one_line(e.what()));
  } catch (...) {
    throw Error(source, field, "unexpected failure while reading");
  }
}

}  // namespace quantlab
