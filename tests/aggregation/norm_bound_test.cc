#include "aggregation/norm_bound.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fedge::aggregation {
namespace {

using ::testing::FloatNear;
using ::testing::Pointwise;
using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

double Norm(const std::vector<float>& x, const Ranges& ranges) {
  double s = 0;
  for (const auto& [b, e] : ranges) {
    for (uint64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(s);
}

TEST(ClipNormTest, ScalesALongUpdateToTheBoundKeepingItsDirection) {
  std::vector<float> u = {3, -4, 0, 12};  // norm 13
  EXPECT_DOUBLE_EQ(ClipNorm(absl::MakeSpan(u), {{0, 4}}, 6.5), 13.0);
  EXPECT_THAT(u, Pointwise(FloatNear(1e-6), std::vector<float>{1.5f, -2, 0, 6}));
}

TEST(ClipNormTest, LeavesAnUpdateWithinTheBoundAlone) {
  std::vector<float> u = {3, -4}, before = u;
  EXPECT_DOUBLE_EQ(ClipNorm(absl::MakeSpan(u), {{0, 2}}, 5.0), 5.0);
  EXPECT_EQ(u, before);
  ClipNorm(absl::MakeSpan(u), {{0, 2}}, 100.0);
  EXPECT_EQ(u, before);
}

TEST(ClipNormTest, RandomUpdatesEndAtTheBound) {
  std::mt19937 rng(13);
  std::normal_distribution<float> dist(0, 1);
  for (int k = 0; k < 5; ++k) {
    std::vector<float> x(10001);
    for (float& v : x) v = dist(rng);
    const std::vector<float> original = x;
    const double before = Norm(x, {{0, x.size()}});
    EXPECT_NEAR(ClipNorm(absl::MakeSpan(x), {{0, x.size()}}, 0.25 * before), before, 1e-9 * before);
    EXPECT_NEAR(Norm(x, {{0, x.size()}}), 0.25 * before, 1e-5 * before);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], 0.25f * original[i], 1e-6);
  }
}

// Only parameter coordinates count and are scaled: buffers (BatchNorm
// statistics) keep their values.
TEST(ClipNormTest, MeasuresAndScalesOnlyTheGivenRanges) {
  std::vector<float> u = {3, 100, -4, 7, 0, 12};
  const Ranges params = {{0, 1}, {2, 3}, {4, 6}};  // 3, -4, 0, 12: norm 13
  EXPECT_DOUBLE_EQ(ClipNorm(absl::MakeSpan(u), params, 1.3), 13.0);
  EXPECT_THAT(u, Pointwise(FloatNear(1e-6), std::vector<float>{0.3f, 100, -0.4f, 7, 0, 1.2f}));
}

TEST(ClipNormTest, AccumulatesInDoubleWithoutOverflow) {
  const float big = std::numeric_limits<float>::max();
  std::vector<float> x = {big, big, big, big, big};
  const double norm = ClipNorm(absl::MakeSpan(x), {{0, 5}}, 1.0);
  EXPECT_NEAR(norm / (static_cast<double>(big) * std::sqrt(5.0)), 1.0, 1e-12);
  EXPECT_NEAR(Norm(x, {{0, 5}}), 1.0, 1e-6);
}

}  // namespace
}  // namespace fedge::aggregation
