#include "client/fault_injection.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/log.h"

namespace fedge::client {
namespace {

// kill_before_unmasking, armed for the process (ArmProcessFaults).
std::atomic<bool> unmasking_fault_armed{false};
std::atomic<uint64_t> unmasking_fault_round{0};

class FaultInjectingTrainer final : public Trainer {
 public:
  FaultInjectingTrainer(std::unique_ptr<Trainer> inner, FaultPlan plan)
      : inner_(std::move(inner)), plan_(plan) {}

  absl::Status Train(const protocol::Task& task, const Dataset& data,
                     const StopPredicate& should_stop, TrainOutcome* out) override {
    MaybeKill(plan_.kill_during_training_round, task.round, "training");
    absl::Status s = inner_->Train(task, data, should_stop, out);
    if (!s.ok()) return s;
    MaybeKill(plan_.kill_before_upload_round, task.round, "uploading");
    if (plan_.upload_delay > absl::ZeroDuration()) {
      FEDGE_LOG(kInfo, "--inject_fault: round %d: straggling for %s before the upload",
                task.round, absl::FormatDuration(plan_.upload_delay));
      // A fault, not a synchronisation: poll the stop predicate so an
      // abandoned round or a shutdown is not held up.
      const absl::Time until = absl::Now() + plan_.upload_delay;
      while (absl::Now() < until) {
        if (should_stop()) return absl::CancelledError("round abandoned while straggling");
        absl::SleepFor(std::min(absl::Milliseconds(20), until - absl::Now()));
      }
    }
    return s;
  }

  std::vector<std::string> CachedArchitectures() const override {
    return inner_->CachedArchitectures();
  }

 private:
  static void MaybeKill(const std::optional<uint64_t>& at, uint64_t round, const char* phase) {
    if (!at.has_value() || round < *at) return;
    FEDGE_LOG(kWarning, "--inject_fault: SIGKILL while %s in round %d", phase, round);
    ::raise(SIGKILL);
  }

  std::unique_ptr<Trainer> inner_;
  const FaultPlan plan_;
};

}  // namespace

absl::StatusOr<FaultPlan> ParseFaultPlan(absl::string_view spec) {
  FaultPlan plan;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    absl::string_view value = part;
    uint64_t round = 0;
    if (absl::ConsumePrefix(&value, "kill_during_training:") && absl::SimpleAtoi(value, &round)) {
      plan.kill_during_training_round = round;
    } else if (value = part; absl::ConsumePrefix(&value, "kill_before_upload:") &&
                             absl::SimpleAtoi(value, &round)) {
      plan.kill_before_upload_round = round;
    } else if (value = part; absl::ConsumePrefix(&value, "kill_before_unmasking:") &&
                             absl::SimpleAtoi(value, &round)) {
      plan.kill_before_unmasking_round = round;
    } else if (value = part; absl::ConsumePrefix(&value, "delay_upload:") &&
                             absl::ParseDuration(value, &plan.upload_delay) &&
                             plan.upload_delay >= absl::ZeroDuration()) {
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "fault '", part, "': want kill_during_training:ROUND, kill_before_upload:ROUND, "
          "kill_before_unmasking:ROUND or delay_upload:DURATION"));
    }
  }
  return plan;
}

std::unique_ptr<Trainer> WithFaults(std::unique_ptr<Trainer> trainer, FaultPlan plan) {
  if (!plan.kill_during_training_round && !plan.kill_before_upload_round &&
      plan.upload_delay == absl::ZeroDuration()) {
    return trainer;
  }
  return std::make_unique<FaultInjectingTrainer>(std::move(trainer), plan);
}

void ArmProcessFaults(const FaultPlan& plan) {
  if (!plan.kill_before_unmasking_round.has_value()) return;
  unmasking_fault_round.store(*plan.kill_before_unmasking_round);
  unmasking_fault_armed.store(true);
}

void OnUnmaskingRequested(uint64_t round) {
  if (!unmasking_fault_armed.load() || round < unmasking_fault_round.load()) return;
  FEDGE_LOG(kWarning, "--inject_fault: SIGKILL on the unmasking request of round %d", round);
  ::raise(SIGKILL);
}

}  // namespace fedge::client
