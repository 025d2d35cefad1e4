#ifndef FEDGE_COORDINATOR_DP_MECHANISM_H_
#define FEDGE_COORDINATOR_DP_MECHANISM_H_

// Differential privacy as the coordinator runs it (docs/privacy.md): DP-FedAvg
// (McMahan et al. 2018, "Learning Differentially Private Recurrent Language
// Models") with Poisson-sampled cohorts, per-client L2 clipping of the whole
// update, Gaussian noise on the sum and a fixed denominator, in three places:
//   central      the coordinator clips each plain update and noises the sum
//                (optionally with adaptive clipping, Andrew et al. 2021);
//   distributed  each client clips and adds its share of discrete Gaussian
//                noise to its secure-aggregation input (Kairouz, Liu and
//                Steinke 2021); the secure round (secure_round.h) calibrates
//                the share so the survivors' sum carries the full noise;
//   local        each client clips and adds the full noise itself.
// The accountant (privacy/rdp_accountant.h) composes the sampled Gaussian
// mechanism once per started round and converts to (epsilon, delta); a
// budget (target_epsilon) stops the run before the round that would exceed it.
//
// The guarantee is user-level (a client's whole data set, add/remove
// adjacency) for anyone who sees only the released models. Against the
// coordinator itself, which knows who was sampled, sampling does not amplify:
// for local and distributed DP the accountant also reports that epsilon
// ("epsilon_coordinator", q = 1 per round a client takes part in).
//
// Not thread-safe; the coordinator's thread drives it. No torch, no I/O.

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "privacy/adaptive_clip.h"
#include "privacy/noise.h"
#include "privacy/rdp_accountant.h"
#include "coordinator/round_report.h"
#include "protocol/messages.h"

namespace fedge::coordinator {

// Everything the --dp family of flags sets.
struct PrivacyOptions {
  protocol::PrivacyMode mode = protocol::PrivacyMode::kOff;
  double noise_multiplier = 1.0;  // z: noise stddev = z * clip
  double clip = 0.1;              // C: L2 bound on a client's whole update (adaptive: its start)
  // Central only: track the target quantile of the update norms (Andrew et
  // al. 2021, geometric update).
  bool adaptive_clip = false;
  double target_quantile = 0.5;
  double clip_learning_rate = 0.2;
  // The noise on the count of unclipped updates; -1: max(expected cohort /
  // 20, z), the paper's m / 20 kept above z / 2 (below which the count would
  // spend the whole budget).
  double clip_count_stddev = -1;
  double delta = 1e-5;
  double target_epsilon = 0;  // 0: no budget
  // 0: noise from OpenSSL's CSPRNG (what a real deployment needs). Otherwise
  // a seeded AES-CTR stream so a simulation can be repeated exactly.
  uint64_t noise_seed = 0;
};

// OK, or InvalidArgument naming the --dp flag that is out of range or cannot
// combine with another setting: distributed needs secure aggregation, central
// refuses it (the coordinator cannot clip what it cannot see), adaptive
// clipping is central only, and only strategies that average (no robust rule,
// no SCAFFOLD) have the bounded sensitivity DP needs.
absl::Status ValidatePrivacyOptions(const PrivacyOptions& options, bool secure,
                                    bool strategy_buffers, bool strategy_control_variates);

class DpMechanism {
 public:
  // Null when options.mode is kOff. InvalidArgument on bad options.
  static absl::StatusOr<std::unique_ptr<DpMechanism>> Create(const PrivacyOptions& options);

  protocol::PrivacyMode mode() const { return options_.mode; }
  const PrivacyOptions& options() const { return options_; }
  double clip() const { return adaptive_ ? adaptive_->clip() : options_.clip; }

  // Poisson sampling: each of `selectable` independently with probability
  // q = min(1, target / selectable.size()). Remembers q for the round. The
  // coins come from the noise's source (the CSPRNG unless noise_seed is
  // set): amplification by sampling needs the sample hidden from whoever
  // the guarantee is against, and --seed is not a secret.
  std::vector<std::string> SampleCohort(const std::vector<std::string>& selectable,
                                        size_t target);

  // The budget check before a round at the remembered q: the reason to stop
  // when composing one more round would exceed target_epsilon, else nullopt.
  std::optional<std::string> BudgetExhausted() const;

  // The device's part for the round's task (local: clip and noise; central:
  // the mode only, so devices can log it). Distributed tasks are completed
  // by the secure round, which knows the threshold and the encoding.
  void ConfigureTask(protocol::TrainingConfig* config) const;

  // Central DP: the coordinator's clip of each update; the norm before.
  // Local DP: the norm only (the device clipped before adding its noise).
  double ClipUpdate(absl::Span<float> delta);

  // Turns the round's mean over `contributors` clipped updates into the
  // noised DP-FedAvg estimate, in place: (sum + noise) / expected cohort,
  // noise added here only in central mode. Then composes the round into the
  // accountant, moves the adaptive clip and fills `figures`.
  absl::Status FinishRound(absl::Span<float> mean, size_t contributors, PrivacyFigures* figures);

  // A started round that failed still costs its privacy (what was sampled
  // may show in the failure); composes it.
  absl::Status ChargeFailedRound(PrivacyFigures* figures);

  // Accountant and clip state for the checkpoint.
  std::string SaveState() const;
  absl::Status RestoreState(absl::string_view state);

  // (epsilon, epsilon against the coordinator) spent so far.
  absl::StatusOr<double> Epsilon() const;

 private:
  explicit DpMechanism(const PrivacyOptions& options);
  absl::Status Charge(PrivacyFigures* figures);
  // Adaptive clipping: the count's noise for this round's expected cohort,
  // and the updates' share of the budget that leaves.
  absl::Status SetCountNoise();

  const PrivacyOptions options_;
  double update_noise_multiplier_ = 0;  // z, or z_delta with adaptive clipping
  std::unique_ptr<privacy::AdaptiveClip> adaptive_;
  std::unique_ptr<privacy::RandomBits> bits_;
  privacy::RdpAccountant accountant_;              // q per round
  privacy::RdpAccountant coordinator_accountant_;  // q = 1 (local, distributed)
  double q_ = 1.0;
  double expected_cohort_ = 1.0;
  uint32_t below_clip_ = 0;  // central, this round: updates with norm <= clip
  uint32_t clipped_ = 0;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_DP_MECHANISM_H_
