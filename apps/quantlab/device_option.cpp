#include "device_option.hpp"

#include "quantlab/core/error.hpp"

#include <string>

namespace quantlab::cli {

FlagSpec device_flag() {
  return {"device", Takes::Value, "where the model runs: cpu, cuda, cuda:N or auto (default: a GPU when there is one)"};
}

Device device_option(const Args& args) { return parse_device(args.get_or("device", "auto"), "--device"); }

FlagSpec calibration_matmul_flag() {
  return {"calibration-matmul", Takes::Value,
          "on a GPU: tf32 (default: tensor cores, inputs rounded to 10-bit mantissas as the reference code's f16 passes "
          "round them) or f32 (exact products, slower; statistics within 1e-5 of the CPU's)"};
}

bool calibration_tf32(const Args& args) {
  const std::string m = args.get_or("calibration-matmul", "tf32");
  if (m != "tf32" && m != "f32") throw Error("--calibration-matmul", m, "expected tf32 or f32");
  return m == "tf32";
}

}  // namespace quantlab::cli
