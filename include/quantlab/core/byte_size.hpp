#pragma once
// Sizes as users write them on a command line: "64GiB", "8G", "512MiB", "1.5TB", "1000000".
// Binary units (KiB, MiB, GiB, TiB, and the bare K, M, G, T) are powers of 1024; decimal ones (KB,
// MB, GB, TB) powers of 1000; a bare number or "B" is bytes. Case of the unit letters is ignored.
#include <string_view>

namespace quantlab {

// Throws Error naming `field` (e.g. "--max-gpu-memory") for anything else, a negative or
// non-finite number, or zero.
double parse_byte_size(std::string_view text, std::string_view field);

}  // namespace quantlab
