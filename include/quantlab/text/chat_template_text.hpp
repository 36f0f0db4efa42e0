#pragma once
// Olive-style text templates: "### Question: {prompt}\n### Answer: {response}". Placeholders name
// fields ({prompt}, {response}, {system}, or any field of the record); "{{" and "}}" are literal
// braces (Python str.format rules). A placeholder with no value is an error naming it.
#include <map>
#include <string>

namespace quantlab::text {

std::string render_text_template(const std::string& format, const std::map<std::string, std::string>& fields,
                                 const std::string& source = "--text-template");

}  // namespace quantlab::text
