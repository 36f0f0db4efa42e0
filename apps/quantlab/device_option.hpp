#pragma once
// --device cpu|cuda|cuda:N|auto, shared by every command that runs a model, and
// --calibration-matmul tf32|f32, shared by the commands that run calibration passes.
#include "args.hpp"

#include "quantlab/backend/device.hpp"

namespace quantlab::cli {

// The flag's spec, for a command's flag list.
FlagSpec device_flag();
// The device it names (default auto: the first GPU where there is one, else the CPU).
Device device_option(const Args& args);

FlagSpec calibration_matmul_flag();
// Whether calibration passes on a GPU may use TF32 tensor cores (default: yes).
bool calibration_tf32(const Args& args);

}  // namespace quantlab::cli
