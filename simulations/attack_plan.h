#ifndef FEDGE_SIMULATIONS_ATTACK_PLAN_H_
#define FEDGE_SIMULATIONS_ATTACK_PLAN_H_

// Which simulated clients attack (fedge-sim --attackers, --attack) and the
// fedge-client flags that make them do so. The attacks themselves are in
// client/attack.h.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/attack.h"

namespace fedge::sim {

struct AttackPlan {
  client::AttackOptions options;
  std::vector<uint64_t> attackers;  // ascending client ids
};

// The attacking clients among [0, clients): the first
// max(1, round(fraction * clients)) of a shuffle seeded by `seed`, in
// ascending order; none when fraction is 0. The same seed always picks the
// same clients. InvalidArgument naming --attackers for a fraction outside
// [0, 1) or one that leaves no client honest.
absl::StatusOr<std::vector<uint64_t>> ChooseAttackers(int clients, double fraction,
                                                      uint64_t seed);

// The fedge-client arguments for a process hosting `hosted`: --attack and its
// settings with --attack_ids listing the hosted attackers; empty when none of
// `hosted` attacks.
std::vector<std::string> AttackClientArgs(const AttackPlan& plan,
                                          const std::vector<uint64_t>& hosted);

// attackers.txt: one id per line.
std::string AttackersFile(const AttackPlan& plan);

// "attackers: 2 of 10 (ids 3, 7), signflip x4".
std::string AttackSummary(const AttackPlan& plan, int clients);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_ATTACK_PLAN_H_
