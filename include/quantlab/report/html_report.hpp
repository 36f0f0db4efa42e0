#pragma once
// `quantlab report`: a sweep's run directory as one self-contained HTML page (no script, no
// stylesheet or font from elsewhere): per model a table of every file with each evaluation's figure
// ± its standard error (failed and pending cells say so), one SVG scatter of quality against bits per
// weight per evaluation (Pareto front highlighted, the base as a dashed line), the advice of
// `quantlab advise` with its default settings, and the provenance (recipe, quantlab versions,
// calibration sets). The bytes depend on the run directory alone: no clock, no host name.
#include "quantlab/report/run_results.hpp"

#include <string>

namespace quantlab::report {

std::string html_report(const RunResults& run);

}  // namespace quantlab::report
