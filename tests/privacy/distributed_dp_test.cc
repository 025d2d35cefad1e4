// Calibration of the distributed discrete Gaussian (privacy/distributed_dp.h).

#include "privacy/distributed_dp.h"

#include <cmath>

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::privacy {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST(DistributedDpTest, NoiseAtTheThresholdIsTheFullNoiseAndNothingWraps) {
  for (uint32_t n : {2u, 10u, 100u, 1000u}) {
    for (double z : {0.5, 1.0, 3.0}) {
      const uint32_t t = (n * 4 + 4) / 5;  // 80 %
      const size_t dim = 100000;
      absl::StatusOr<DistributedGaussianPlan> p = PlanDistributedGaussian(n, t, dim, 0.3, z);
      ASSERT_THAT(p, IsOk()) << n << " " << z;
      EXPECT_DOUBLE_EQ(p->sensitivity, p->encoding.scale * 0.3 + std::sqrt(1e5) / 2);
      EXPECT_NEAR(p->client_sigma * std::sqrt(t), z * p->sensitivity, 1e-9 * p->sensitivity);
      EXPECT_NEAR(p->min_total_sigma, z * p->sensitivity, 1e-9 * p->sensitivity);
      // Worst case: every member survives, each at its clip, plus 8 of the
      // largest total noise's standard deviations: still inside int32.
      const double worst = n * (p->encoding.scale * 0.3 + 0.5) +
                           8.0 * p->client_sigma * std::sqrt(static_cast<double>(n));
      EXPECT_LE(worst, 2147483647.0) << n << " " << z;
      // ... and the scale is not wasted: within 1 % of that bound.
      EXPECT_GE(worst, 0.99 * 2147483647.0) << n << " " << z;
      EXPECT_EQ(p->tau, 0.0);
      EXPECT_EQ(p->encoding.max_weight, 1u);
      EXPECT_FLOAT_EQ(p->encoding.clip, 0.3f);
    }
  }
}

TEST(DistributedDpTest, BadArgumentsAreRefused) {
  EXPECT_THAT(PlanDistributedGaussian(10, 11, 10, 1, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PlanDistributedGaussian(10, 0, 10, 1, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PlanDistributedGaussian(10, 5, 0, 1, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PlanDistributedGaussian(10, 5, 10, 0, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PlanDistributedGaussian(10, 5, 10, 1, -1), StatusIs(absl::StatusCode::kInvalidArgument));
  // A huge model over a huge cohort: rounding would dominate the scale.
  EXPECT_THAT(PlanDistributedGaussian(100000, 80000, size_t{1} << 40, 1e-3, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, "rounding would dominate"));
}

}  // namespace
}  // namespace fedge::privacy
