// fedge-sim's choice of attackers and the flags it hands the client processes.

#include "simulations/attack_plan.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::sim {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(AttackPlanTest, AttackersAreTheSeededShareOfTheClients) {
  for (auto [clients, fraction, want] :
       std::vector<std::tuple<int, double, size_t>>{{10, 0.2, 2}, {20, 0.2, 4}, {10, 0.04, 1},
                                                    {7, 0.5, 4}, {100, 0.3, 30}}) {
    absl::StatusOr<std::vector<uint64_t>> ids = ChooseAttackers(clients, fraction, 0);
    ASSERT_THAT(ids, IsOk());
    EXPECT_EQ(ids->size(), want) << clients << " x " << fraction;
    EXPECT_TRUE(std::is_sorted(ids->begin(), ids->end()));
    EXPECT_EQ(std::set<uint64_t>(ids->begin(), ids->end()).size(), ids->size());
    for (uint64_t id : *ids) EXPECT_LT(id, static_cast<uint64_t>(clients));
  }
  EXPECT_THAT(*ChooseAttackers(10, 0, 0), IsEmpty());
}

TEST(AttackPlanTest, TheSameSeedPicksTheSameAttackers) {
  EXPECT_EQ(*ChooseAttackers(20, 0.2, 7), *ChooseAttackers(20, 0.2, 7));
  std::set<std::vector<uint64_t>> sets;
  for (uint64_t seed = 0; seed < 10; ++seed) sets.insert(*ChooseAttackers(20, 0.2, seed));
  EXPECT_GT(sets.size(), 5u);  // not the same clients whatever the seed
}

TEST(AttackPlanTest, FractionsOutsideTheRangeNameTheFlag) {
  EXPECT_THAT(ChooseAttackers(10, 1.0, 0), StatusIs(absl::StatusCode::kInvalidArgument, "--attackers"));
  EXPECT_THAT(ChooseAttackers(10, -0.1, 0), StatusIs(absl::StatusCode::kInvalidArgument, "--attackers"));
  EXPECT_THAT(ChooseAttackers(10, 0.96, 0), StatusIs(absl::StatusCode::kInvalidArgument, "no client honest"));
}

TEST(AttackPlanTest, ClientProcessesGetOnlyTheirOwnAttackers) {
  AttackPlan plan;
  plan.options.kind = client::AttackKind::kSignFlip;
  plan.attackers = {3, 7};
  EXPECT_THAT(AttackClientArgs(plan, {0, 1, 2}), IsEmpty());
  EXPECT_THAT(AttackClientArgs(plan, {2, 3, 4}),
              ElementsAre("--attack=signflip", "--attack_ids=3", "--attack_scale=4",
                          "--backdoor_fraction=0.5", "--backdoor_target=0"));
  EXPECT_EQ(AttackersFile(plan), "3\n7\n");
  EXPECT_EQ(AttackSummary(plan, 10), "attackers: 2 of 10 (ids 3, 7), signflip x4");
}

}  // namespace
}  // namespace fedge::sim
