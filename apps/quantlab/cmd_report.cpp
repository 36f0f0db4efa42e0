// quantlab report RUN: a sweep's run directory as one self-contained HTML page
// (report/html_report.hpp); this file only parses flags and writes the page.
#include "command.hpp"

#include "quantlab/core/atomic_file.hpp"
#include "quantlab/report/html_report.hpp"

#include <cstdio>
#include <filesystem>

namespace quantlab::cli {
namespace {

int run_report_command(const Args& a) {
  if (a.positional().size() != 1) throw Error("report", "", "give one run directory: quantlab report RUN");
  const std::string dir = a.positional()[0];
  const report::RunResults run = report::read_run(dir);
  const std::string out = a.get_or("out", (std::filesystem::path(dir) / "report.html").string());
  const std::string html = report::html_report(run);
  write_file_atomic(out, html.data(), html.size());
  if (a.has("json")) print_json({{"command", "report"}, {"run_dir", dir}, {"out", out}, {"bytes", html.size()}});
  else std::printf("%s: report of %zu files in %s\n", dir.c_str(), run.files.size(), out.c_str());
  return 0;
}

QUANTLAB_COMMAND(Command{"report",
                         "a sweep's run directory as one self-contained HTML page: table, plots, advice, provenance",
                         {{"out", Takes::Value, "the HTML file to write (default: RUN/report.html)"}},
                         run_report_command,
                         {"RUN", "a run directory written by quantlab sweep", 1}});

}  // namespace
}  // namespace quantlab::cli
