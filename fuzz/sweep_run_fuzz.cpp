// A sweep run directory as `quantlab advise` and `quantlab report` read it (a run can come from
// someone else): sweep.json, then any number of cell results, split at NUL bytes; each result is
// written to cells/<its "cell" field>.json when that field is a plain file name. Reading, advising
// (text and JSON) and the HTML report must refuse with a quantlab::Error or succeed.
#include "fuzz_file.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/report/advise.hpp"
#include "quantlab/report/html_report.hpp"
#include "quantlab/report/run_results.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace {

bool plain_name(const std::string& s) {
  return !s.empty() && s.size() < 200 && s != "." && s != ".." &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const std::string dir = fuzz::fresh_folder();
  std::filesystem::create_directories(dir + "/cells");
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  bool first = true;
  while (true) {
    const size_t z = rest.find('\0');
    const std::string_view part = rest.substr(0, z);
    if (first) {
      fuzz::write_file(dir + "/sweep.json", part);
      first = false;
    } else {
      const auto cell = nlohmann::json::parse(part, nullptr, false);
      if (cell.is_object() && cell.contains("cell") && cell["cell"].is_string()) {
        const std::string id = cell["cell"].get<std::string>();
        if (plain_name(id)) fuzz::write_file(dir + "/cells/" + id + ".json", part);
      }
    }
    if (z == std::string_view::npos) break;
    rest.remove_prefix(z + 1);
  }
  try {
    const report::RunResults run = report::read_run(dir);
    try {
      const report::Advice advice = report::advise(run, report::AdviseOptions{});
      (void)report::advice_json(run, advice).dump();
      (void)report::advice_text(run, advice);
    } catch (const Error&) {
    }
    (void)report::html_report(run);
  } catch (const Error&) {
  }
  return 0;
}
