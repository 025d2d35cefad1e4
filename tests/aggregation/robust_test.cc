#include "aggregation/robust.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aggregation/aggregator.h"
#include "tests/testing/status_matchers.h"

namespace fedge::aggregation {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::FloatNear;
using ::testing::Pointwise;
using Updates = std::vector<std::vector<float>>;

// ---- Plain references: full sort per coordinate, brute-force Krum. ----

std::vector<float> SortedColumn(const Updates& u, size_t c) {
  std::vector<float> col;
  for (const auto& x : u) col.push_back(x[c]);
  std::sort(col.begin(), col.end());
  return col;
}

std::vector<float> ReferenceMedian(const Updates& u) {
  std::vector<float> out(u[0].size());
  const size_t n = u.size();
  for (size_t c = 0; c < out.size(); ++c) {
    std::vector<float> col = SortedColumn(u, c);
    out[c] = n % 2 == 1 ? col[n / 2]
                        : static_cast<float>((static_cast<double>(col[n / 2 - 1]) + col[n / 2]) / 2);
  }
  return out;
}

std::vector<float> ReferenceTrimmedMean(const Updates& u, double beta) {
  std::vector<float> out(u[0].size());
  const size_t n = u.size();
  const size_t t = static_cast<size_t>(std::floor(beta * n));
  for (size_t c = 0; c < out.size(); ++c) {
    std::vector<float> col = SortedColumn(u, c);
    double sum = 0;
    for (size_t k = t; k < n - t; ++k) sum += col[k];
    out[c] = static_cast<float>(sum / (n - 2 * t));
  }
  return out;
}

std::vector<float> ReferenceKrum(const Updates& u, size_t f, size_t m) {
  const size_t n = u.size();
  std::vector<double> score(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> d;
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double s = 0;
      for (size_t c = 0; c < u[i].size(); ++c) s += std::pow(double{u[i][c]} - u[j][c], 2);
      d.push_back(s);
    }
    std::sort(d.begin(), d.end());
    score[i] = std::accumulate(d.begin(), d.begin() + (n - f - 2), 0.0);
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  std::vector<float> out(u[0].size());
  for (size_t c = 0; c < out.size(); ++c) {
    double sum = 0;
    for (size_t s = 0; s < m; ++s) sum += u[order[s]][c];
    out[c] = static_cast<float>(sum / m);
  }
  return out;
}

// ---- Helpers. ----

Updates RandomUpdates(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  Updates u(n, std::vector<float>(dim));
  for (auto& x : u) {
    for (float& v : x) v = normal(rng);
  }
  return u;
}

// Resets `agg` to the updates' dim, adds them (weights 1, 2, ...) and finishes.
std::vector<float> RunRound(Aggregator& agg, const Updates& u) {
  const size_t dim = u[0].size();
  agg.Reset(dim);
  for (size_t k = 0; k < u.size(); ++k) EXPECT_THAT(agg.Add(u[k], k + 1.0), IsOk());
  std::vector<float> out(dim);
  EXPECT_THAT(agg.Finish(absl::MakeSpan(out)), IsOk());
  return out;
}

using Factory = std::function<std::unique_ptr<Aggregator>()>;
std::vector<Factory> AllRobust() {
  return {MakeMedianAggregator, [] { return MakeTrimmedMeanAggregator(0.2); },
          [] { return MakeKrumAggregator(1, 1); }, [] { return MakeKrumAggregator(1, 3); }};
}

// ---- Against the references on random data. ----

TEST(RobustTest, MedianMatchesTheSortingReference) {
  for (size_t n : {1, 2, 3, 4, 7, 10, 31}) {
    for (uint32_t seed : {1u, 2u, 3u}) {
      Updates u = RandomUpdates(n, 257, seed);
      auto agg = MakeMedianAggregator();
      EXPECT_THAT(RunRound(*agg, u), Pointwise(FloatNear(0), ReferenceMedian(u))) << n << " " << seed;
    }
  }
}

TEST(RobustTest, TrimmedMeanMatchesTheSortingReference) {
  for (double beta : {0.0, 0.1, 0.2, 0.34, 0.49}) {
    for (size_t n : {1, 2, 5, 10, 23}) {
      for (uint32_t seed : {4u, 5u}) {
        Updates u = RandomUpdates(n, 130, seed);
        auto agg = MakeTrimmedMeanAggregator(beta);
        EXPECT_THAT(RunRound(*agg, u), Pointwise(FloatNear(1e-6), ReferenceTrimmedMean(u, beta)))
            << beta << " " << n << " " << seed;
      }
    }
  }
}

TEST(RobustTest, KrumAndMultiKrumMatchTheBruteForceReference) {
  for (size_t n : {3, 5, 8, 13}) {
    for (size_t f = 0; 2 * f + 3 <= n; ++f) {
      for (size_t m : {size_t{1}, size_t{2}, n - f, n}) {
        for (uint32_t seed : {6u, 7u}) {
          Updates u = RandomUpdates(n, 61, seed + 100 * static_cast<uint32_t>(n));
          auto agg = MakeKrumAggregator(static_cast<uint32_t>(f), static_cast<uint32_t>(m));
          EXPECT_THAT(RunRound(*agg, u), Pointwise(FloatNear(1e-5), ReferenceKrum(u, f, m)))
              << "n=" << n << " f=" << f << " m=" << m << " seed=" << seed;
        }
      }
    }
  }
}

// ---- Hand-made cases. ----

TEST(RobustTest, MedianIgnoresOneHugeOutlier) {
  Updates u = {{1.0f, -2.0f}, {1.1f, -2.1f}, {0.9f, -1.9f}, {1e30f, -1e30f}, {1.05f, -2.05f}};
  auto agg = MakeMedianAggregator();
  EXPECT_THAT(RunRound(*agg, u), Pointwise(FloatNear(0), std::vector<float>{1.05f, -2.05f}));
}

TEST(RobustTest, MedianOfAnEvenCountIsTheMeanOfTheTwoMiddleValues) {
  auto agg = MakeMedianAggregator();
  EXPECT_THAT(RunRound(*agg, {{10}, {1}, {3}, {2}}), Pointwise(FloatNear(0), std::vector<float>{2.5f}));
}

TEST(RobustTest, TrimmedMeanWithBetaZeroIsThePlainMean) {
  auto agg = MakeTrimmedMeanAggregator(0);
  EXPECT_THAT(RunRound(*agg, {{1, 10}, {2, 20}, {6, 60}}),
              Pointwise(FloatNear(1e-6), std::vector<float>{3, 30}));
}

TEST(RobustTest, TrimmedMeanDropsTheExtremesOfEachCoordinate) {
  // n = 5, beta = 0.2: one value cut at each end, per coordinate.
  auto agg = MakeTrimmedMeanAggregator(0.2);
  EXPECT_THAT(RunRound(*agg, {{100, 2}, {1, 3}, {2, -50}, {3, 4}, {-100, 99}}),
              Pointwise(FloatNear(1e-6), std::vector<float>{2, 3}));
}

TEST(RobustTest, KrumPicksTheClusterMemberNotTheOutlier) {
  // n = 5, f = 1: scores sum the 2 nearest. Centre (0,0) scores 2, the
  // other cluster members 3, the outlier millions.
  Updates u = {{1, 0}, {1000, -1000}, {0, 0}, {-1, 0}, {0, 1}};
  auto agg = MakeKrumAggregator(1, 1);
  EXPECT_THAT(RunRound(*agg, u), Pointwise(FloatNear(0), std::vector<float>{0, 0}));
}

TEST(RobustTest, MultiKrumWithSelectNMinusFAveragesTheHonestUpdates) {
  // n = 7, f = 2: two attackers far away (and far from each other) never
  // make the n - f = 5 lowest scores.
  Updates honest = {{1, 2, 3}, {1.2f, 2, 2.8f}, {0.8f, 2.2f, 3}, {1, 1.8f, 3.2f}, {1, 2, 3}};
  Updates u = {honest[0], {500, -500, 500}, honest[1], honest[2], {-800, 900, 0}, honest[3], honest[4]};
  std::vector<float> mean(3);
  for (size_t c = 0; c < 3; ++c) {
    for (const auto& h : honest) mean[c] += h[c] / 5;
  }
  auto explicit_m = MakeKrumAggregator(2, 5);
  EXPECT_THAT(RunRound(*explicit_m, u), Pointwise(FloatNear(1e-5), mean));
  auto default_m = MakeKrumAggregator(2, 0);  // 0 means n - f.
  EXPECT_THAT(RunRound(*default_m, u), Pointwise(FloatNear(1e-5), mean));
}

TEST(RobustTest, KrumBreaksEqualScoresByArrivalOrder) {
  // Points 2, 0, 1 on a line with f = 0: every score is 1 (the nearest other
  // point), so Krum returns whichever arrived first.
  auto agg = MakeKrumAggregator(0, 1);
  EXPECT_THAT(RunRound(*agg, {{2}, {0}, {1}}), Pointwise(FloatNear(0), std::vector<float>{2}));
  EXPECT_THAT(RunRound(*agg, {{0}, {1}, {2}}), Pointwise(FloatNear(0), std::vector<float>{0}));
}

// ---- Errors. ----

TEST(RobustTest, AddRefusesBadUpdatesAndLeavesTheRoundUntouched) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const Factory& make : AllRobust()) {
    auto agg = make();
    agg->Reset(3);
    const Updates good = {{1, 2, 3}, {1, 2, 3}, {1, 2, 3}, {1, 2, 3}, {1, 2, 3}};
    for (const auto& x : good) ASSERT_THAT(agg->Add(x, 2), IsOk());
    EXPECT_THAT(agg->Add(std::vector<float>{1, 1}, 1),
                StatusIs(absl::StatusCode::kInvalidArgument, "has 2 values, the model has 3"));
    EXPECT_THAT(agg->Add(std::vector<float>{9, nan, 9}, 1),
                StatusIs(absl::StatusCode::kInvalidArgument, "NaN or infinite"));
    EXPECT_THAT(agg->Add(std::vector<float>{9, 9, -inf}, 1),
                StatusIs(absl::StatusCode::kInvalidArgument, "NaN or infinite"));
    for (double w : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
      EXPECT_THAT(agg->Add(std::vector<float>{9, 9, 9}, w),
                  StatusIs(absl::StatusCode::kInvalidArgument, "weight"));
    }
    EXPECT_EQ(agg->count(), 5u);
    EXPECT_DOUBLE_EQ(agg->total_weight(), 10);
    std::vector<float> out(3);
    ASSERT_THAT(agg->Finish(absl::MakeSpan(out)), IsOk());
    EXPECT_THAT(out, Pointwise(FloatNear(1e-6), std::vector<float>{1, 2, 3}));
  }
}

TEST(RobustTest, FinishBeforeAddOrIntoTheWrongSizeFails) {
  for (const Factory& make : AllRobust()) {
    auto agg = make();
    agg->Reset(2);
    std::vector<float> out(2), wrong(3);
    EXPECT_THAT(agg->Finish(absl::MakeSpan(out)),
                StatusIs(absl::StatusCode::kFailedPrecondition, "no update"));
    for (int k = 0; k < 5; ++k) ASSERT_THAT(agg->Add(std::vector<float>{1, 2}, 1), IsOk());
    EXPECT_THAT(agg->Finish(absl::MakeSpan(wrong)),
                StatusIs(absl::StatusCode::kInvalidArgument, "output has 3 values"));
  }
}

TEST(RobustTest, KrumFailsWithTooFewUpdatesNamingNAndF) {
  auto agg = MakeKrumAggregator(1, 1);
  agg->Reset(1);
  for (float v : {1.0f, 2.0f, 3.0f, 4.0f}) ASSERT_THAT(agg->Add(std::vector<float>{v}, 1), IsOk());
  std::vector<float> out(1);
  absl::Status s = agg->Finish(absl::MakeSpan(out));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, "n >= 2f + 3"));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, "f = 1"));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, "n = 4"));
  ASSERT_THAT(agg->Add(std::vector<float>{5}, 1), IsOk());
  EXPECT_THAT(agg->Finish(absl::MakeSpan(out)), IsOk());
}

TEST(RobustTest, MultiKrumFailsWhenSelectingMoreThanArrived) {
  auto agg = MakeKrumAggregator(0, 4);
  std::vector<float> out(1);
  agg->Reset(1);
  for (float v : {1.0f, 2.0f, 3.0f}) ASSERT_THAT(agg->Add(std::vector<float>{v}, 1), IsOk());
  EXPECT_THAT(agg->Finish(absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "m = 4 updates but only n = 3"));
}

TEST(RobustTest, TrimmedMeanRefusesABetaOutsideItsRange) {
  // floor(beta n) < n / 2 for every beta in [0, 0.5), so "nothing left" can
  // only be asked for with a beta outside the range, which is refused.
  for (double beta : {0.5, 0.7, -0.1, std::nan("")}) {
    auto agg = MakeTrimmedMeanAggregator(beta);
    agg->Reset(1);
    ASSERT_THAT(agg->Add(std::vector<float>{1}, 1), IsOk());
    ASSERT_THAT(agg->Add(std::vector<float>{2}, 1), IsOk());
    std::vector<float> out(1);
    EXPECT_THAT(agg->Finish(absl::MakeSpan(out)),
                StatusIs(absl::StatusCode::kInvalidArgument, "is not in [0, 0.5)"))
        << beta;
  }
}

// ---- Rounds and memory. ----

TEST(RobustTest, ResetBetweenRoundsGivesTheSameResultAsAFreshAggregator) {
  for (const Factory& make : AllRobust()) {
    auto reused = make();
    RunRound(*reused, RandomUpdates(9, 40, 8));             // A bigger first round,
    RunRound(*reused, RandomUpdates(6, 40, 9));             // a smaller one,
    Updates third = RandomUpdates(7, 40, 10);          // then the one compared.
    const size_t held = reused->buffered_bytes();
    std::vector<float> a = RunRound(*reused, third);
    EXPECT_EQ(reused->buffered_bytes(), held) << "same dim, fewer updates: no new buffers";
    auto fresh = make();
    EXPECT_EQ(a, RunRound(*fresh, third));
    // A new dim starts over and still agrees.
    Updates other = RandomUpdates(7, 13, 11);
    EXPECT_EQ(RunRound(*reused, other), RunRound(*fresh, other));
  }
}

TEST(RobustTest, BufferedBytesGrowsWithTheCohortAndIsZeroForFedAvg) {
  for (const Factory& make : AllRobust()) {
    auto agg = make();
    agg->Reset(1000);
    EXPECT_EQ(agg->buffered_bytes(), 0u);
    size_t last = 0;
    for (int k = 0; k < 6; ++k) {
      ASSERT_THAT(agg->Add(std::vector<float>(1000, 1.0f * k), 1), IsOk());
      EXPECT_GE(agg->buffered_bytes(), last + 1000 * sizeof(float));
      last = agg->buffered_bytes();
    }
  }
  auto fedavg = MakeFedAvgAggregator();
  fedavg->Reset(1000);
  for (int k = 0; k < 6; ++k) ASSERT_THAT(fedavg->Add(std::vector<float>(1000, 1.0f), 1), IsOk());
  EXPECT_EQ(fedavg->buffered_bytes(), 0u);
}

TEST(RobustTest, BufferedBytesBoundsWhatAnAggregatorHoldingNUpdatesReports) {
  for (size_t n : {3, 10, 50}) {
    const size_t dim = 777;
    Updates u = RandomUpdates(n, dim, 12);
    const size_t bound = BufferedBytes(dim, n);
    auto krum = MakeKrumAggregator(0, 1);
    RunRound(*krum, u);
    // Krum holds the whole bound except one distance of the scoring column.
    EXPECT_LE(krum->buffered_bytes(), bound) << n;
    EXPECT_GE(krum->buffered_bytes() + 64, bound) << n;
    auto median = MakeMedianAggregator();
    RunRound(*median, u);
    EXPECT_LE(median->buffered_bytes(), bound) << n;
    EXPECT_GE(median->buffered_bytes(), n * dim * sizeof(float)) << n;
  }
  EXPECT_EQ(BufferedBytes(100, 0), 0u);
  EXPECT_EQ(BufferedBytes(100, 1), 100 * sizeof(float) + 24);
  EXPECT_EQ(BufferedBytes(size_t{1} << 40, size_t{1} << 30), std::numeric_limits<size_t>::max());
}

// ---- Bucketing (Karimireddy, He and Jaggi 2022, Algorithm 1). ----

// Every way to cut 6 updates into 3 unordered pairs, as index pairs.
std::vector<std::vector<std::pair<size_t, size_t>>> AllPairings6() {
  std::vector<std::vector<std::pair<size_t, size_t>>> out;
  for (size_t b = 1; b < 6; ++b) {
    std::vector<size_t> rest;
    for (size_t k = 1; k < 6; ++k) {
      if (k != b) rest.push_back(k);
    }
    for (size_t d = 1; d < 4; ++d) {
      std::vector<size_t> last;
      for (size_t k = 1; k < 4; ++k) {
        if (k != d) last.push_back(rest[k]);
      }
      out.push_back({{0, b}, {rest[0], rest[d]}, {last[0], last[1]}});
    }
  }
  return out;
}

TEST(BucketingTest, TheRuleRunsOnTheMeansOfSomeRandomPairing) {
  const Updates u = RandomUpdates(6, 5, 11);
  // The reference: the median of the three pair means, for each of the 15
  // pairings.
  std::vector<std::vector<float>> candidates;
  for (const auto& pairing : AllPairings6()) {
    Updates means;
    for (auto [a, b] : pairing) {
      std::vector<float> m(5);
      for (size_t c = 0; c < 5; ++c) m[c] = u[a][c] * 0.5f + u[b][c] * 0.5f;
      means.push_back(m);
    }
    candidates.push_back(ReferenceMedian(means));
  }
  ASSERT_EQ(candidates.size(), 15u);
  auto agg = MakeBucketingAggregator(MakeMedianAggregator(), 2, /*seed=*/7);
  auto twin = MakeBucketingAggregator(MakeMedianAggregator(), 2, /*seed=*/7);
  auto other = MakeBucketingAggregator(MakeMedianAggregator(), 2, /*seed=*/8);
  std::set<size_t> seen;
  int differs_from_other_seed = 0;
  for (int round = 0; round < 60; ++round) {
    const std::vector<float> out = RunRound(*agg, u);
    size_t match = candidates.size();
    for (size_t k = 0; k < candidates.size(); ++k) {
      if (std::equal(out.begin(), out.end(), candidates[k].begin(),
                     [](float a, float b) { return std::fabs(a - b) <= 1e-6f; })) {
        match = k;
      }
    }
    ASSERT_LT(match, candidates.size()) << "round " << round << ": not a pairing's median";
    seen.insert(match);
    EXPECT_EQ(RunRound(*twin, u), out);  // the same seed, the same permutations
    differs_from_other_seed += RunRound(*other, u) != out;
  }
  // A fresh permutation every round: most of the 15 pairings show up.
  EXPECT_GE(seen.size(), 10u);
  EXPECT_GT(differs_from_other_seed, 30);
}

TEST(BucketingTest, BucketsOfOneAreTheRuleAndOneBucketIsTheMean) {
  const Updates u = RandomUpdates(7, 9, 3);
  auto single = MakeBucketingAggregator(MakeTrimmedMeanAggregator(0.2), 1, 1);
  EXPECT_THAT(RunRound(*single, u), Pointwise(FloatNear(1e-6f), ReferenceTrimmedMean(u, 0.2)));
  // One bucket of all 7 (the last bucket may be short: 7 < 10): the rule
  // sees one value per coordinate, their plain mean.
  auto one = MakeBucketingAggregator(MakeMedianAggregator(), 10, 1);
  std::vector<float> mean(9, 0);
  for (const auto& x : u) {
    for (size_t c = 0; c < 9; ++c) mean[c] += x[c] / 7.0f;
  }
  EXPECT_THAT(RunRound(*one, u), Pointwise(FloatNear(1e-5f), mean));
  // 7 updates in buckets of 3: 3 bucket means (3 + 3 + 1), so Krum with f = 0
  // has what it needs (n >= 3), and f = 1 does not (n < 5), naming n.
  auto krum = MakeBucketingAggregator(MakeKrumAggregator(1, 1), 3, 1);
  krum->Reset(9);
  for (const auto& x : u) ASSERT_THAT(krum->Add(x, 1), IsOk());
  std::vector<float> out(9);
  EXPECT_THAT(krum->Finish(absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "3"));
}

TEST(BucketingTest, RefusesWhatTheRulesRefuseAndAccountsItsMemory) {
  auto agg = MakeBucketingAggregator(MakeMedianAggregator(), 2, 1);
  agg->Reset(4);
  EXPECT_THAT(agg->Add(std::vector<float>{1, 2, 3}, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(agg->Add(std::vector<float>{1, NAN, 3, 4}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<float> out(4);
  EXPECT_THAT(agg->Finish(absl::MakeSpan(out)), StatusIs(absl::StatusCode::kFailedPrecondition));
  const Updates u = RandomUpdates(9, 1000, 5);
  RunRound(*agg, u);
  EXPECT_LE(agg->buffered_bytes(), BucketedBufferedBytes(1000, 9, 2));
  EXPECT_GT(agg->buffered_bytes(), BufferedBytes(1000, 9));  // the copies and the buckets'
}

}  // namespace
}  // namespace fedge::aggregation
