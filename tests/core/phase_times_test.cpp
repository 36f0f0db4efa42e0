#include "quantlab/core/phase_times.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace quantlab;

// Off, a scope records nothing and never synchronizes; on, nested phases sum their own intervals,
// each reading of the clock is preceded by the owner's synchronize.
TEST(PhaseTimes, NestedScopesSumTheirIntervalsAndSynchronizeAtEachReading) {
  int syncs = 0;
  { const PhaseScope off("never"); }
  EXPECT_TRUE(phase_times().phases().empty());

  phase_times().enable([&] { ++syncs; });
  for (int i = 0; i < 2; ++i) {
    const PhaseScope outer("outer");
    const PhaseScope inner("outer.inner");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  phase_times().disable();
  { const PhaseScope off("after"); }

  const auto& p = phase_times().phases();
  ASSERT_EQ(p.size(), 2u);  // in the order they first ended
  EXPECT_EQ(p[0].name, "outer.inner");
  EXPECT_EQ(p[1].name, "outer");
  EXPECT_EQ(p[0].count, 2);
  EXPECT_EQ(p[1].count, 2);
  EXPECT_GE(p[0].seconds, 0.010);
  EXPECT_GE(p[1].seconds, p[0].seconds);  // the parent contains its child
  EXPECT_EQ(syncs, 8);                    // two readings per scope

  phase_times().enable({});  // enabling again starts from nothing
  EXPECT_TRUE(phase_times().phases().empty());
  phase_times().disable();
}
