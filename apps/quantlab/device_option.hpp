#pragma once
// --device cpu|cuda|cuda:N|auto, shared by every command that runs a model.
#include "args.hpp"

#include "quantlab/backend/device.hpp"

namespace quantlab::cli {

// The flag's spec, for a command's flag list.
FlagSpec device_flag();
// The device it names (default auto: the first GPU where there is one, else the CPU).
Device device_option(const Args& args);

}  // namespace quantlab::cli
