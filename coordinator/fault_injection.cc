#include "coordinator/fault_injection.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fedge::coordinator {

absl::StatusOr<CoordinatorFaultPlan> ParseCoordinatorFaultPlan(absl::string_view spec) {
  CoordinatorFaultPlan plan;
  if (spec.empty()) return plan;
  absl::string_view rest = spec;
  uint64_t round = 0;
  if (absl::ConsumePrefix(&rest, "kill_after_checkpoint:") && absl::SimpleAtoi(rest, &round) &&
      round >= 1) {
    plan.kill_after_checkpoint_round = round;
    return plan;
  }
  rest = spec;
  if (absl::ConsumePrefix(&rest, "kill_after_updates:")) {
    std::vector<absl::string_view> parts = absl::StrSplit(rest, ':');
    uint64_t updates = 0;
    if (parts.size() == 2 && absl::SimpleAtoi(parts[0], &round) && round >= 1 &&
        absl::SimpleAtoi(parts[1], &updates) && updates >= 1) {
      plan.kill_after_updates = CoordinatorFaultPlan::MidRound{round, updates};
      return plan;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--inject_fault=", spec,
      ": want kill_after_checkpoint:ROUND or kill_after_updates:ROUND:N (ROUND, N >= 1)"));
}

bool ReachedMidRoundFault(const CoordinatorFaultPlan& plan, const Coordinator& coordinator) {
  if (!plan.kill_after_updates.has_value()) return false;
  return coordinator.phase() == Coordinator::Phase::kTraining &&
         coordinator.round() == plan.kill_after_updates->round &&
         coordinator.inputs_accepted() >=
             plan.kill_after_updates->updates;  // updates or masked inputs
}

}  // namespace fedge::coordinator
