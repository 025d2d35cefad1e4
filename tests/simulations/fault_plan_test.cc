// fedge-sim's fault plan: which client processes get which --inject_fault.

#include "simulations/fault_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::sim {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST(FaultPlanTest, UnmaskingPhaseKillsTheFractionAtTheUnmaskingRequest) {
  ClientFaultOptions o;
  o.kill_fraction = 0.34;
  o.kill_phase = "unmasking";
  o.kill_round = 2;
  o.straggler_fraction = 0.25;
  o.straggler_delay = absl::Seconds(1);
  absl::StatusOr<std::vector<ProcessFaults>> plan = PlanClientFaults(6, o);
  ASSERT_THAT(plan, IsOk());
  int killed = 0, stragglers = 0;
  for (const ProcessFaults& p : *plan) {
    if (p.killed) {
      ++killed;
      EXPECT_EQ(p.inject_fault, "kill_before_unmasking:2");
    } else if (!p.inject_fault.empty()) {
      ++stragglers;
      EXPECT_EQ(p.inject_fault, "delay_upload:1s");
    }
  }
  EXPECT_EQ(killed, 2);      // round(0.34 * 6)
  EXPECT_EQ(stragglers, 1);  // round(0.25 * 4 survivors)
}

TEST(FaultPlanTest, RefusesUnknownPhasesAndFractionsOutsideZeroToOne) {
  ClientFaultOptions o;
  o.kill_phase = "sharing";
  EXPECT_THAT(PlanClientFaults(3, o), StatusIs(absl::StatusCode::kInvalidArgument, "sharing"));
  o.kill_phase = "training";
  o.kill_fraction = 1.5;
  EXPECT_THAT(PlanClientFaults(3, o), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fedge::sim
