#include "command.hpp"

#include <cstdio>

namespace quantlab::cli {
namespace {

int run_version(const Args& args) {
  if (args.has("json")) print_json({{"quantlab", QUANTLAB_VERSION}});
  else std::printf("quantlab %s\n", QUANTLAB_VERSION);
  return 0;
}

QUANTLAB_COMMAND(Command{"version", "print the version", {}, run_version});

}  // namespace
}  // namespace quantlab::cli
