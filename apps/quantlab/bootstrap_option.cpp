#include "bootstrap_option.hpp"

#include "quantlab/core/error.hpp"

#include <string>

namespace quantlab::cli {

std::vector<FlagSpec> bootstrap_flags() {
  return {{"bootstrap", Takes::Value, "bootstrap resamples (default 2000)"},
          {"bootstrap-seed", Takes::Value, "bootstrap random seed (default 0)"},
          {"confidence", Takes::Value, "interval coverage (default 0.95)"}};
}

BootstrapOptions bootstrap_option(const Args& a) {
  BootstrapOptions boot;
  boot.resamples = a.get_int("bootstrap", 2000);
  boot.level = a.get_double("confidence", 0.95);
  const long long seed = a.get_int("bootstrap-seed", 0);
  if (seed < 0) throw Error("--bootstrap-seed", std::to_string(seed), "must not be negative");
  boot.seed = uint64_t(seed);
  if (boot.resamples < 1 || boot.resamples > 1000000) throw Error("--bootstrap", "", "must be between 1 and 1000000");
  if (!(boot.level > 0 && boot.level < 1)) throw Error("--confidence", "", "must be in (0, 1)");
  return boot;
}

nlohmann::ordered_json bootstrap_json(const BootstrapOptions& o) {
  return {{"resamples", o.resamples}, {"confidence", o.level}, {"seed", o.seed}};
}

}  // namespace quantlab::cli
