#include "simulations/attack_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fedge::sim {

absl::StatusOr<std::vector<uint64_t>> ChooseAttackers(int clients, double fraction,
                                                      uint64_t seed) {
  if (!(fraction >= 0 && fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attackers=", fraction, ": want a fraction of the clients in [0, 1)"));
  }
  if (fraction == 0 || clients <= 0) return std::vector<uint64_t>();
  // A run that asks for attackers gets at least one.
  const int count = std::max(1, static_cast<int>(std::lround(fraction * clients)));
  if (count >= clients) {
    return absl::InvalidArgumentError(absl::StrCat("--attackers=", fraction, " of ", clients,
                                                   " clients leaves no client honest"));
  }
  std::vector<uint64_t> ids(static_cast<size_t>(clients));
  std::iota(ids.begin(), ids.end(), uint64_t{0});
  // Fisher-Yates written out (std::shuffle differs between standard
  // libraries); salted so it does not repeat the partition's draws.
  std::mt19937_64 rng(seed ^ 0x61747461636b6572ULL);
  for (int i = 0; i < count; ++i) {
    const uint64_t j = static_cast<uint64_t>(i) + rng() % static_cast<uint64_t>(clients - i);
    std::swap(ids[static_cast<size_t>(i)], ids[j]);
  }
  ids.resize(static_cast<size_t>(count));
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> AttackClientArgs(const AttackPlan& plan,
                                          const std::vector<uint64_t>& hosted) {
  std::vector<uint64_t> here;
  for (uint64_t id : plan.attackers) {
    if (std::find(hosted.begin(), hosted.end(), id) != hosted.end()) here.push_back(id);
  }
  if (here.empty()) return {};
  const client::AttackOptions& o = plan.options;
  return {absl::StrCat("--attack=", client::AttackKindName(o.kind)),
          absl::StrCat("--attack_ids=", absl::StrJoin(here, ",")),
          absl::StrCat("--attack_scale=", client::EffectiveAttackScale(o)),
          absl::StrCat("--backdoor_fraction=", o.backdoor_fraction),
          absl::StrCat("--backdoor_target=", o.backdoor_target)};
}

std::string AttackersFile(const AttackPlan& plan) {
  std::string out;
  for (uint64_t id : plan.attackers) absl::StrAppend(&out, id, "\n");
  return out;
}

std::string AttackSummary(const AttackPlan& plan, int clients) {
  return absl::StrCat("attackers: ", plan.attackers.size(), " of ", clients, " (ids ",
                      absl::StrJoin(plan.attackers, ", "), "), ",
                      client::DescribeAttack(plan.options));
}

}  // namespace fedge::sim
