// Magnitude pruning: the schedule's closed form, masks that only shrink and
// keep the largest weights of each range, gather/scatter, and kept ranges.

#include "compression/pruning.h"

#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fedge::compression {
namespace {

using ::testing::HasSubstr;

TEST(PruneScheduleTest, FollowsTheCubicRampAndIsOffByDefault) {
  PruneSchedule s;
  EXPECT_EQ(SparsityAt(s, 5), 0.0);
  s.final_sparsity = 0.8;
  s.begin_round = 3;
  s.end_round = 6;
  ASSERT_TRUE(ValidateSchedule(s).ok());
  EXPECT_EQ(SparsityAt(s, 1), 0.0);
  EXPECT_EQ(SparsityAt(s, 2), 0.0);
  // Rounds 3..6 are 1..4 quarters of the way: s_f (1 - (1 - t)^3).
  EXPECT_DOUBLE_EQ(SparsityAt(s, 3), 0.8 * (1 - std::pow(0.75, 3)));
  EXPECT_DOUBLE_EQ(SparsityAt(s, 4), 0.8 * (1 - std::pow(0.5, 3)));
  EXPECT_DOUBLE_EQ(SparsityAt(s, 5), 0.8 * (1 - std::pow(0.25, 3)));
  EXPECT_DOUBLE_EQ(SparsityAt(s, 6), 0.8);
  EXPECT_DOUBLE_EQ(SparsityAt(s, 60), 0.8);
}

TEST(PruneScheduleTest, RefusesImpossibleSchedules) {
  PruneSchedule s;
  s.final_sparsity = 1.0;
  EXPECT_THAT(ValidateSchedule(s).message(), HasSubstr("--prune=1"));
  s.final_sparsity = 0.5;
  s.begin_round = 1;
  EXPECT_THAT(ValidateSchedule(s).message(), HasSubstr("--prune_rounds=1:2"));
  s.begin_round = 5;
  s.end_round = 4;
  EXPECT_FALSE(ValidateSchedule(s).ok());
}

TEST(PruneTest, KeepsTheLargestOfEachRangeAndLeavesOthersAlone) {
  // Two prunable ranges and a dense tail (a bias).
  std::vector<float> w = {0.5f, -0.1f, 0.3f, -0.9f, 0.05f,   // range 0: 5
                          2.0f, -0.2f, 0.0f, 1.0f,           // range 1: 4
                          0.001f, 0.002f};                   // not prunable
  std::string mask;
  ASSERT_TRUE(Prune(absl::MakeSpan(w), {{0, 5}, {5, 9}}, 0.5, &mask).ok());
  // round(2.5) = 3 of range 0 go (0.05, -0.1, 0.3), round(2) = 2 of range 1
  // (0.0, -0.2); the tail stays.
  const std::vector<float> want = {0.5f, 0, 0, -0.9f, 0, 2.0f, 0, 0, 1.0f, 0.001f, 0.002f};
  EXPECT_EQ(w, want);
  EXPECT_EQ(KeptCount(mask, w.size()), 6u);
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(Kept(mask, i), want[i] != 0) << i;
}

// Global scope: one threshold over both ranges; the small-magnitude range
// gives up more than half, the large one less, and the total is half.
TEST(PruneTest, GlobalScopeUsesOneThresholdOverAllRanges) {
  std::vector<float> w = {0.01f, 0.02f, 0.03f, 0.04f, 1.0f, 2.0f, 3.0f, 4.0f, 0.5f};
  std::string mask;
  ASSERT_TRUE(Prune(absl::MakeSpan(w), {{0, 4}, {4, 8}}, 0.5, &mask, PruneScope::kGlobal).ok());
  EXPECT_EQ(w, (std::vector<float>{0, 0, 0, 0, 1.0f, 2.0f, 3.0f, 4.0f, 0.5f}));
  // The same at layer scope halves each range.
  w = {0.01f, 0.02f, 0.03f, 0.04f, 1.0f, 2.0f, 3.0f, 4.0f, 0.5f};
  mask.clear();
  ASSERT_TRUE(Prune(absl::MakeSpan(w), {{0, 4}, {4, 8}}, 0.5, &mask, PruneScope::kLayer).ok());
  EXPECT_EQ(w, (std::vector<float>{0, 0, 0.03f, 0.04f, 0, 0, 3.0f, 4.0f, 0.5f}));
}

TEST(PruneTest, TheMaskOnlyShrinksAsSparsityGrows) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d;
  std::vector<float> w(1000);
  for (float& x : w) x = d(rng);
  std::string mask;
  ASSERT_TRUE(Prune(absl::MakeSpan(w), {{0, 1000}}, 0.3, &mask).ok());
  const std::string first = mask;
  // The survivors are retrained: a pruned coordinate may not come back even
  // if the server optimiser moved its weight far from 0.
  for (size_t i = 0; i < w.size(); ++i) w[i] = Kept(first, i) ? w[i] * 0.01f : 100.0f;
  ASSERT_TRUE(Prune(absl::MakeSpan(w), {{0, 1000}}, 0.6, &mask).ok());
  EXPECT_EQ(KeptCount(mask, 1000), 400u);
  for (size_t i = 0; i < w.size(); ++i) {
    if (!Kept(first, i)) {
      EXPECT_FALSE(Kept(mask, i)) << i;
      EXPECT_EQ(w[i], 0.0f) << i;
    }
  }
  // A lower sparsity than reached prunes nothing more.
  ASSERT_TRUE(Prune(absl::MakeSpan(w), {{0, 1000}}, 0.2, &mask).ok());
  EXPECT_EQ(KeptCount(mask, 1000), 400u);
}

TEST(PruneTest, GatherScatterRoundTripAndKeptRanges) {
  std::vector<float> w(20);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i + 1);
  std::string mask;
  ASSERT_TRUE(Prune(absl::MakeSpan(w), {{0, 10}, {10, 20}}, 0.5, &mask).ok());
  std::vector<float> kept;
  Gather(mask, w, &kept);
  EXPECT_EQ(kept, (std::vector<float>{6, 7, 8, 9, 10, 16, 17, 18, 19, 20}));
  std::vector<float> back(20, -1.0f);
  ASSERT_TRUE(Scatter(mask, kept, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, w);
  kept.pop_back();
  EXPECT_FALSE(Scatter(mask, kept, absl::MakeSpan(back)).ok());
  // [3, 12) covers kept 6..10 of the first range and none of the second's
  // first five: kept coordinates 0..5.
  EXPECT_EQ(KeptRanges({{3, 12}, {15, 20}}, mask), (Ranges{{0, 5}, {5, 10}}));
  EXPECT_EQ(KeptRanges({{0, 5}}, mask), Ranges{});
  EXPECT_EQ(KeptRanges({{0, 5}}, ""), (Ranges{{0, 5}}));
}

TEST(PruneTest, MasksAreValidated) {
  EXPECT_TRUE(ValidateMask("", 10).ok());
  EXPECT_TRUE(ValidateMask(DenseMask(10), 10).ok());
  EXPECT_EQ(KeptCount(DenseMask(10), 10), 10u);
  EXPECT_THAT(ValidateMask(DenseMask(10), 17).message(), HasSubstr("want 3"));
  std::string bad = DenseMask(10);
  bad[1] = static_cast<char>(0xff);  // bits 10-15 are padding
  EXPECT_THAT(ValidateMask(bad, 10).message(), HasSubstr("padding"));
  std::vector<float> w(10, 1.0f);
  EXPECT_FALSE(Prune(absl::MakeSpan(w), {{0, 11}}, 0.5, &bad).ok());
  std::string ok;
  EXPECT_THAT(Prune(absl::MakeSpan(w), {{0, 11}}, 0.5, &ok).message(), HasSubstr("outside"));
}

}  // namespace
}  // namespace fedge::compression
