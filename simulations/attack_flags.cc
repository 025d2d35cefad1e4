#include "simulations/attack_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

ABSL_FLAG(double, attackers, 0,
          "Fraction of the clients that attack, in [0, 1): the first round(F x clients) (at "
          "least 1) of a --seed-seeded shuffle of the ids, listed in --out/attackers.txt. They "
          "run in the client processes and send well-formed updates. Needs --attack");
ABSL_FLAG(std::string, attack, "",
          "What the --attackers do (fedge-client --attack): signflip (upload -S x their "
          "trained delta), scale (S x delta), gaussian (N(0, (S x RMS of their delta)^2) noise "
          "instead), labelflip (train with labels y -> 9-y, upload S x delta) or backdoor "
          "(a 4x4 white square stamped bottom-right on --backdoor_fraction of their examples, "
          "relabelled --backdoor_target; upload S x delta; the coordinator then also reports "
          "backdoor_success). S is --attack_scale, applied after the client-side --clip_norm "
          "clip; the coordinator's own clip (plain rounds) still bounds them");
ABSL_FLAG(double, attack_scale, 0,
          "The attack's factor S; 0 = its default: signflip 4, scale 10, gaussian 10, "
          "labelflip 1, backdoor 1");
ABSL_FLAG(double, backdoor_fraction, 0.5,
          "--attack=backdoor: share of each attacker's examples that get the trigger, (0, 1]");
ABSL_FLAG(int, backdoor_target, 0,
          "--attack=backdoor: the class triggered images are relabelled to, [0, 9]; the "
          "backdoor success rate is the share of test images of other classes classified as "
          "it once triggered");

namespace fedge::sim {

absl::StatusOr<std::optional<AttackPlan>> AttackPlanFromFlags(int clients, uint64_t seed) {
  const double fraction = absl::GetFlag(FLAGS_attackers);
  const std::string kind = absl::GetFlag(FLAGS_attack);
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ChooseAttackers(clients, fraction, seed));
  AttackPlan plan;
  if (!kind.empty()) {
    FEDGE_ASSIGN_OR_RETURN(plan.options.kind, client::ParseAttackKind(kind, "--attack"));
  }
  if (fraction != 0 && kind.empty()) {
    return absl::InvalidArgumentError(
        "--attackers needs --attack (signflip, scale, gaussian, labelflip or backdoor)");
  }
  if (fraction == 0 && !kind.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attack=", kind, " needs --attackers (the fraction of clients that attack)"));
  }
  if (ids.empty()) return std::nullopt;
  plan.attackers = std::move(ids);
  plan.options.scale = absl::GetFlag(FLAGS_attack_scale);
  plan.options.backdoor_fraction = absl::GetFlag(FLAGS_backdoor_fraction);
  plan.options.backdoor_target = absl::GetFlag(FLAGS_backdoor_target);
  plan.options.seed = seed;
  FEDGE_RETURN_IF_ERROR(client::ValidateAttackOptions(plan.options));
  return plan;
}

}  // namespace fedge::sim
