#pragma once
// --bootstrap, --bootstrap-seed, --confidence: the interval settings of every command that reports
// bootstrap intervals (eval answers, eval judge).
#include "args.hpp"

#include "quantlab/eval/bootstrap.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace quantlab::cli {

// The three flags' specs, for a command's flag list.
std::vector<FlagSpec> bootstrap_flags();
// Their values (defaults: 2000 resamples, seed 0, 0.95); throws Error naming a flag out of range.
BootstrapOptions bootstrap_option(const Args& args);
// {"resamples", "confidence", "seed"} for a result file's settings.
nlohmann::ordered_json bootstrap_json(const BootstrapOptions& o);

}  // namespace quantlab::cli
