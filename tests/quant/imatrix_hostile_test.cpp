// Importance-matrix files found by fuzzing (fuzz/corpus/imatrix/regression-*): each is refused
// with a quantlab::Error naming the file and the tensor, never undefined behaviour.
#include "quantlab/core/error.hpp"
#include "quantlab/quant/imatrix.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace quantlab {
namespace {

TEST(ImatrixHostile, CountBeyondInt64IsRefused) {
  // A GGUF imatrix whose `<name>.counts` holds 1.9e31: converting it to int64 was undefined.
  const std::string path = (test::source_dir() / "fuzz/corpus/imatrix/regression-count-overflows-int64").string();
  try {
    (void)read_imatrix(path);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), path);
    EXPECT_NE(e.field().find(".counts"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("implausibly large"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace quantlab
