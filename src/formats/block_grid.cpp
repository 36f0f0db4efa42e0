// The block-grid registry (block_grid.hpp); each grid is defined beside its format's encoder.
#include "src/formats/block_math.hpp"
#include "src/formats/format_entries.hpp"

namespace quantlab {

const BlockGrid* find_block_grid(FormatId id) {
  static const BlockGrid* const kGrids[] = {&formats::kGridQ4_0, &formats::kGridQ4_1, &formats::kGridQ5_0,
                                            &formats::kGridQ5_1, &formats::kGridQ8_0, &formats::kGridQ4_K,
                                            &formats::kGridQ5_K, &formats::kGridQ6_K};
  for (const BlockGrid* g : kGrids)
    if (g->id == id) return g;
  return nullptr;
}

int grid_level(const BlockGrid& g, float x, float scale, float offset, int kept) {
  if (scale == 0) return kept;
  const int l = formats::nearest_int((x + offset) / scale);
  return std::max(g.level_min, std::min(g.level_max, l));
}

float grid_value(float scale, float offset, int level) { return scale * float(level) - offset; }

}  // namespace quantlab
