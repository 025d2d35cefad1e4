#include "simulations/fault_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"

namespace fedge::sim {

absl::StatusOr<std::vector<ProcessFaults>> PlanClientFaults(size_t processes,
                                                            const ClientFaultOptions& o) {
  if (!(o.kill_fraction >= 0 && o.kill_fraction <= 1) ||
      !(o.straggler_fraction >= 0 && o.straggler_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--kill_clients=", o.kill_fraction, " and --stragglers=", o.straggler_fraction,
        " must be fractions in [0, 1]"));
  }
  if (o.kill_phase != "training" && o.kill_phase != "upload" && o.kill_phase != "random" &&
      o.kill_phase != "unmasking") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--kill_phase=", o.kill_phase, ": want training, upload, random or unmasking"));
  }
  std::mt19937_64 rng(o.seed * 7919 + 17);
  std::vector<size_t> order(processes);
  std::iota(order.begin(), order.end(), size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  const size_t killed = static_cast<size_t>(std::lround(o.kill_fraction * processes));
  const size_t stragglers =
      static_cast<size_t>(std::lround(o.straggler_fraction * (processes - killed)));
  std::vector<ProcessFaults> plan(processes);
  for (size_t i = 0; i < killed; ++i) {
    std::string phase = o.kill_phase;
    if (phase == "random") phase = rng() % 2 == 0 ? "training" : "upload";
    const char* fault = phase == "training"  ? "kill_during_training:"
                        : phase == "upload" ? "kill_before_upload:"
                                            : "kill_before_unmasking:";
    plan[order[i]].inject_fault = absl::StrCat(fault, o.kill_round);
    plan[order[i]].killed = true;
  }
  for (size_t i = killed; i < killed + stragglers; ++i) {
    plan[order[i]].inject_fault =
        absl::StrCat("delay_upload:", absl::FormatDuration(o.straggler_delay));
  }
  return plan;
}

}  // namespace fedge::sim
