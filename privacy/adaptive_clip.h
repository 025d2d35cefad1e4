#ifndef FEDGE_PRIVACY_ADAPTIVE_CLIP_H_
#define FEDGE_PRIVACY_ADAPTIVE_CLIP_H_

// Adaptive clipping for DP-FedAvg (Andrew, Thakkar, McMahan, Ramaswamy 2021,
// "Differentially Private Learning with Adaptive Clipping", NeurIPS 2021,
// arXiv:1905.03871, Algorithm 1 with the geometric update): instead of a
// hand-tuned L2 clip C, track the target quantile gamma of the clients'
// update norms, privately. Each round every client reports one bit b_i =
// [||delta_i|| <= C]; the server noises the count and moves C
//   C <- C * exp(-eta_C * (b - gamma)),   b = the noised fraction unclipped,
// so C shrinks while more than gamma of the updates fit and grows otherwise.
//
// The count is noised in the centered form sum_i (b_i - 1/2) with
// N(0, sigma_b^2): adding or removing one client moves it by 1/2, which is
// where Theorem 1's 2 sigma_b comes from (UpdateNoiseMultiplier). This is how
// TF Privacy's QuantileEstimatorQuery computes it; it also clamps b to [0, 1]
// (post-processing, so free), and so do we.
//
// No torch, no I/O. Not thread-safe.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "privacy/noise.h"

namespace fedge::privacy {

struct AdaptiveClipConfig {
  double initial_clip = 0.1;      // C at round 0; > 0
  double target_quantile = 0.5;   // gamma in [0, 1]: the fraction left unclipped
  double learning_rate = 0.2;     // eta_C >= 0: C moves by at most exp(eta_C) a round
  double count_noise_stddev = 0;  // sigma_b >= 0: noise on the (centered) bit sum
};

// OK, or InvalidArgument naming the field out of range (or not finite).
absl::Status ValidateAdaptiveClipConfig(const AdaptiveClipConfig& config);

class AdaptiveClip {
 public:
  // REQUIRES: ValidateAdaptiveClipConfig(config).ok() (Create checks it).
  explicit AdaptiveClip(const AdaptiveClipConfig& config);
  static absl::StatusOr<std::unique_ptr<AdaptiveClip>> Create(const AdaptiveClipConfig& config);

  // The clip C for the coming round.
  double clip() const { return clip_; }
  // Updates applied so far.
  uint64_t rounds() const { return rounds_; }
  const AdaptiveClipConfig& config() const { return config_; }

  // One round with a fixed cohort: `unclipped_count` of the `cohort_size`
  // updates had norm <= clip(). Adds N(0, sigma_b^2) to the bit sum, b =
  // noisy sum / m, C <- C * exp(-eta_C (b - gamma)). Returns the new C.
  double Update(double unclipped_count, double cohort_size, RandomBits& bits);

  // The same when the number of updates that arrived (`reported`) differs
  // from the expected cohort size m (Poisson sampling, dropouts), as in the
  // paper: b = (unclipped - reported/2 + N(0, sigma_b^2)) / m + 1/2. The
  // denominator must be the public m, not the realised count, for the
  // sensitivity of 1/2 to hold. Counts out of range are clamped into
  // [0, reported]; m <= 0 or non-finite leaves C as it is (nothing is
  // released) and returns it.
  double Update(double unclipped_count, double reported, double expected_cohort,
                RandomBits& bits);

  // C and the round count, for the checkpoint: magic "FACL", u32 version 1,
  // f64 C, u64 rounds, little-endian. RestoreState: InvalidArgument (state
  // untouched) for a wrong length, magic or version, or a C that is not
  // positive and finite.
  std::string SaveState() const;
  absl::Status RestoreState(absl::string_view state);

 private:
  AdaptiveClipConfig config_;
  double clip_;
  uint64_t rounds_ = 0;
};

// Theorem 1 of Andrew et al.: noising the bit count with sigma_b and the
// update sum with z_delta * C is, for privacy accounting, one Gaussian
// mechanism with multiplier z where z^-2 = z_delta^-2 + (2 sigma_b)^-2. So to
// spend a target total multiplier z (what the accountant composes), the
// updates get z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2) (TensorFlow
// Federated's DifferentiallyPrivateFactory.gaussian_adaptive computes the
// same). InvalidArgument, naming both values, when sigma_b <= z / 2 (the
// count alone would already spend the whole budget), or for z or sigma_b not
// positive and finite.
absl::StatusOr<double> UpdateNoiseMultiplier(double total_noise_multiplier,
                                             double count_noise_stddev);

}  // namespace fedge::privacy

#endif  // FEDGE_PRIVACY_ADAPTIVE_CLIP_H_
