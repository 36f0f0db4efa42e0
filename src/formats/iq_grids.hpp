#pragma once
// Lattice tables of the i-quants and the sign helper they share.
#include <bit>
#include <cstdint>
#include <cstring>

namespace quantlab::formats {

#include "src/formats/iq_grids.inc"

// Value j (0..7) of a grid entry packed as little-endian bytes.
inline uint8_t grid_byte(uint64_t entry, int j) { return uint8_t(entry >> (8 * j)); }

// IQ2/IQ3 store 7 sign bits per 8 values; the eighth makes the number of minus signs even.
inline uint8_t expand_signs7(uint32_t seven_bits) {
  const uint32_t s = seven_bits & 127;
  return uint8_t(s | ((std::popcount(s) & 1u) << 7));
}

// +1 or -1 for value j of a group, from its 8 sign bits.
inline float sign_of(uint8_t signs, int j) { return (signs >> j) & 1 ? -1.f : 1.f; }

}  // namespace quantlab::formats
