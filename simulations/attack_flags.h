#ifndef FEDGE_SIMULATIONS_ATTACK_FLAGS_H_
#define FEDGE_SIMULATIONS_ATTACK_FLAGS_H_

// fedge-sim's --attackers / --attack family of flags (see attack_plan.h).

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "simulations/attack_plan.h"

namespace fedge::sim {

// The plan the flags ask for over `clients` clients, nullopt without
// attackers. InvalidArgument naming the flag: --attackers outside [0, 1),
// --attackers without --attack or the reverse, an unknown --attack, or a bad
// --attack_scale / --backdoor_fraction / --backdoor_target.
absl::StatusOr<std::optional<AttackPlan>> AttackPlanFromFlags(int clients, uint64_t seed);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_ATTACK_FLAGS_H_
