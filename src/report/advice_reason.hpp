#pragma once
// The plain-English paragraph of an advice: what to ship and why, what the statistics can and
// cannot tell apart, and what could not be ranked.
#include "quantlab/report/advise.hpp"

#include <string>

namespace quantlab::report {

// `advice` with everything but `reason` filled in.
std::string advice_reason(const Advice& advice);

// A measurement as "0.03502 ± 0.0014" (± one standard error, as llama.cpp and eval print it);
// accuracy as percent.
std::string measurement_text(const QualityMetric& metric, const Measurement& m);

}  // namespace quantlab::report
