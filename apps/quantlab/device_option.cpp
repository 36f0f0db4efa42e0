#include "device_option.hpp"

namespace quantlab::cli {

FlagSpec device_flag() {
  return {"device", Takes::Value, "where the model runs: cpu, cuda, cuda:N or auto (default: a GPU when there is one)"};
}

Device device_option(const Args& args) { return parse_device(args.get_or("device", "auto"), "--device"); }

}  // namespace quantlab::cli
