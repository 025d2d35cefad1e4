#include "coordinator/privacy_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

ABSL_FLAG(std::string, dp, "off",
          "Differential privacy (docs/privacy.md): off; central (the coordinator clips each "
          "update and adds Gaussian noise to the sum; plain rounds only); distributed (each "
          "client clips and adds its share of discrete Gaussian noise inside secure "
          "aggregation; needs --secure); local (each client clips and adds the full noise). "
          "Cohorts are then Poisson-sampled at q = clients_per_round / live clients and the "
          "epsilon spent is reported after every round");
ABSL_FLAG(double, dp_noise_multiplier, 1.0,
          "--dp: noise standard deviation as a multiple of the clip (z)");
ABSL_FLAG(double, dp_clip, 0.1,
          "--dp: L2 bound on each client's whole update (with --dp_adaptive_clip, its start)");
ABSL_FLAG(bool, dp_adaptive_clip, false,
          "--dp=central: move the clip toward --dp_target_quantile of the update norms "
          "(Andrew et al. 2021); the count it uses is noised and accounted for");
ABSL_FLAG(double, dp_target_quantile, 0.5, "--dp_adaptive_clip: the quantile of norms to track");
ABSL_FLAG(double, dp_clip_learning_rate, 0.2,
          "--dp_adaptive_clip: geometric learning rate of the clip (eta_C)");
ABSL_FLAG(double, dp_clip_count_stddev, -1,
          "--dp_adaptive_clip: noise on the count of unclipped updates; -1 = max(expected "
          "cohort / 20, --dp_noise_multiplier)");
ABSL_FLAG(double, dp_delta, 1e-5, "--dp: the delta of the (epsilon, delta) reported");
ABSL_FLAG(double, dp_target_epsilon, 0,
          "--dp: stop before a round would take epsilon past this; 0 = no budget");
ABSL_FLAG(uint64_t, dp_noise_seed, 0,
          "--dp: 0 draws noise from OpenSSL's CSPRNG (deployments); another value a seeded "
          "stream, so a simulation repeats exactly (never in production: the noise is then "
          "predictable)");

namespace fedge::coordinator {

absl::StatusOr<PrivacyOptions> PrivacyOptionsFromFlags() {
  PrivacyOptions o;
  const std::string mode = absl::GetFlag(FLAGS_dp);
  if (mode == "off") {
    o.mode = protocol::PrivacyMode::kOff;
  } else if (mode == "central") {
    o.mode = protocol::PrivacyMode::kCentral;
  } else if (mode == "distributed") {
    o.mode = protocol::PrivacyMode::kDistributed;
  } else if (mode == "local") {
    o.mode = protocol::PrivacyMode::kLocal;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--dp=", mode, " is not one of off, central, distributed, local"));
  }
  o.noise_multiplier = absl::GetFlag(FLAGS_dp_noise_multiplier);
  o.clip = absl::GetFlag(FLAGS_dp_clip);
  o.adaptive_clip = absl::GetFlag(FLAGS_dp_adaptive_clip);
  o.target_quantile = absl::GetFlag(FLAGS_dp_target_quantile);
  o.clip_learning_rate = absl::GetFlag(FLAGS_dp_clip_learning_rate);
  o.clip_count_stddev = absl::GetFlag(FLAGS_dp_clip_count_stddev);
  o.delta = absl::GetFlag(FLAGS_dp_delta);
  o.target_epsilon = absl::GetFlag(FLAGS_dp_target_epsilon);
  o.noise_seed = absl::GetFlag(FLAGS_dp_noise_seed);
  return o;
}

std::vector<std::string> PrivacyFlagArgs() {
  auto exact = [](const char* name, double v) { return absl::StrFormat("--%s=%.17g", name, v); };
  return {
      absl::StrCat("--dp=", absl::GetFlag(FLAGS_dp)),
      exact("dp_noise_multiplier", absl::GetFlag(FLAGS_dp_noise_multiplier)),
      exact("dp_clip", absl::GetFlag(FLAGS_dp_clip)),
      absl::StrCat("--dp_adaptive_clip=", absl::GetFlag(FLAGS_dp_adaptive_clip) ? "true" : "false"),
      exact("dp_target_quantile", absl::GetFlag(FLAGS_dp_target_quantile)),
      exact("dp_clip_learning_rate", absl::GetFlag(FLAGS_dp_clip_learning_rate)),
      exact("dp_clip_count_stddev", absl::GetFlag(FLAGS_dp_clip_count_stddev)),
      exact("dp_delta", absl::GetFlag(FLAGS_dp_delta)),
      exact("dp_target_epsilon", absl::GetFlag(FLAGS_dp_target_epsilon)),
      absl::StrCat("--dp_noise_seed=", absl::GetFlag(FLAGS_dp_noise_seed)),
  };
}

}  // namespace fedge::coordinator
