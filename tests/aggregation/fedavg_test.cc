#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aggregation/aggregator.h"
#include "aggregation/kernels.h"
#include "tests/testing/status_matchers.h"

namespace fedge::aggregation {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::Pointwise;
using ::testing::FloatNear;

std::vector<float> FinishOf(const Aggregator& a, size_t dim) {
  std::vector<float> out(dim);
  EXPECT_THAT(a.Finish(absl::MakeSpan(out)), IsOk());
  return out;
}

TEST(FedAvgTest, ComputesTheExampleWeightedMean) {
  auto agg = MakeFedAvgAggregator();
  agg->Reset(3);
  ASSERT_THAT(agg->Add(std::vector<float>{1, 2, 3}, 100), IsOk());
  ASSERT_THAT(agg->Add(std::vector<float>{4, 5, 6}, 300), IsOk());
  EXPECT_EQ(agg->count(), 2u);
  EXPECT_DOUBLE_EQ(agg->total_weight(), 400);
  // (1*100 + 4*300) / 400 = 3.25, ...
  EXPECT_THAT(FinishOf(*agg, 3), Pointwise(FloatNear(1e-6), std::vector<float>{3.25f, 4.25f, 5.25f}));
}

TEST(FedAvgTest, ResultDoesNotDependOnArrivalOrderBeyondRounding) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0, 1);
  const size_t dim = 1000;
  std::vector<std::vector<float>> updates(20, std::vector<float>(dim));
  std::vector<double> weights(20);
  for (size_t k = 0; k < updates.size(); ++k) {
    for (float& x : updates[k]) x = normal(rng);
    weights[k] = 100 + 37 * k;
  }
  auto forward = MakeFedAvgAggregator();
  auto backward = MakeFedAvgAggregator();
  forward->Reset(dim);
  backward->Reset(dim);
  for (size_t k = 0; k < updates.size(); ++k) {
    ASSERT_THAT(forward->Add(updates[k], weights[k]), IsOk());
    size_t r = updates.size() - 1 - k;
    ASSERT_THAT(backward->Add(updates[r], weights[r]), IsOk());
  }
  std::vector<float> a = FinishOf(*forward, dim), b = FinishOf(*backward, dim);
  // Reference in double.
  double total = 0;
  for (double w : weights) total += w;
  for (size_t i = 0; i < dim; ++i) {
    double ref = 0;
    for (size_t k = 0; k < updates.size(); ++k) ref += weights[k] * updates[k][i];
    ref /= total;
    ASSERT_NEAR(a[i], ref, 1e-5);
    ASSERT_NEAR(a[i], b[i], 1e-5);
  }
}

TEST(FedAvgTest, RefusesBadUpdatesAndLeavesTheAggregateUntouched) {
  auto agg = MakeFedAvgAggregator();
  agg->Reset(3);
  ASSERT_THAT(agg->Add(std::vector<float>{1, 1, 1}, 10), IsOk());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THAT(agg->Add(std::vector<float>{1, 1}, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, "has 2 values, the model has 3"));
  EXPECT_THAT(agg->Add(std::vector<float>{9, 9, nan}, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, "NaN"));
  EXPECT_THAT(agg->Add(std::vector<float>{-inf, 9, 9}, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, "NaN or infinite"));
  EXPECT_THAT(agg->Add(std::vector<float>{9, 9, 9}, 0), StatusIs(absl::StatusCode::kInvalidArgument, "weight"));
  EXPECT_THAT(agg->Add(std::vector<float>{9, 9, 9}, -3), StatusIs(absl::StatusCode::kInvalidArgument, "weight"));
  EXPECT_THAT(agg->Add(std::vector<float>{9, 9, 9}, std::nan("")),
              StatusIs(absl::StatusCode::kInvalidArgument, "weight"));
  EXPECT_EQ(agg->count(), 1u);
  EXPECT_THAT(FinishOf(*agg, 3), Pointwise(FloatNear(0), std::vector<float>{1, 1, 1}));
}

TEST(FedAvgTest, FinishWithoutUpdatesFails) {
  auto agg = MakeFedAvgAggregator();
  agg->Reset(2);
  std::vector<float> out(2);
  EXPECT_THAT(agg->Finish(absl::MakeSpan(out)), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(agg->Add(std::vector<float>{1, 2}, 1), IsOk());
  std::vector<float> wrong(3);
  EXPECT_THAT(agg->Finish(absl::MakeSpan(wrong)), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FedAvgTest, ResetStartsAFreshRound) {
  auto agg = MakeFedAvgAggregator();
  agg->Reset(2);
  ASSERT_THAT(agg->Add(std::vector<float>{10, 10}, 5), IsOk());
  agg->Reset(2);
  EXPECT_EQ(agg->count(), 0u);
  ASSERT_THAT(agg->Add(std::vector<float>{1, 3}, 7), IsOk());
  EXPECT_THAT(FinishOf(*agg, 2), Pointwise(FloatNear(1e-7), std::vector<float>{1, 3}));
}

TEST(KernelsTest, AllFiniteFindsANonFiniteValueAnywhere) {
  std::vector<float> v(1027, 1.0f);
  EXPECT_TRUE(AllFinite(v.data(), v.size()));
  for (size_t pos : {size_t{0}, size_t{511}, size_t{1026}}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      std::vector<float> w = v;
      w[pos] = bad;
      EXPECT_FALSE(AllFinite(w.data(), w.size())) << pos;
    }
  }
  v[5] = std::numeric_limits<float>::max();
  v[6] = std::numeric_limits<float>::denorm_min();
  EXPECT_TRUE(AllFinite(v.data(), v.size()));
}

}  // namespace
}  // namespace fedge::aggregation
