// The test-only client faults (fedge-client --inject_fault): parsing, and the
// process-wide unmasking fault striking at the right round only.

#include "client/fault_injection.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST(FaultInjectionTest, ParsesEveryFaultAndNamesTheBadOne) {
  absl::StatusOr<FaultPlan> plan = ParseFaultPlan(
      "kill_during_training:3,kill_before_upload:4,delay_upload:250ms,kill_before_unmasking:2");
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->kill_during_training_round, 3u);
  EXPECT_EQ(plan->kill_before_upload_round, 4u);
  EXPECT_EQ(plan->upload_delay, absl::Milliseconds(250));
  EXPECT_EQ(plan->kill_before_unmasking_round, 2u);
  EXPECT_FALSE(plan->empty());
  absl::StatusOr<FaultPlan> unmasking_only = ParseFaultPlan("kill_before_unmasking:1");
  ASSERT_THAT(unmasking_only, IsOk());
  EXPECT_FALSE(unmasking_only->empty());
  EXPECT_THAT(ParseFaultPlan("kill_before_unmasking:x"),
              StatusIs(absl::StatusCode::kInvalidArgument, "kill_before_unmasking:x"));
  EXPECT_TRUE(ParseFaultPlan("")->empty());
}

TEST(FaultInjectionDeathTest, UnmaskingFaultKillsFromItsRoundOn) {
  FaultPlan plan;
  plan.kill_before_unmasking_round = 2;
  EXPECT_EXIT(
      {
        ArmProcessFaults(plan);
        OnUnmaskingRequested(1);  // an earlier round: nothing happens
        std::fprintf(stderr, "survived round 1\n");
        OnUnmaskingRequested(2);
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "survived round 1");
  // Not armed in this process: nothing happens.
  OnUnmaskingRequested(7);
}

}  // namespace
}  // namespace fedge::client
