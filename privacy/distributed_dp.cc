#include "privacy/distributed_dp.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedge::privacy {
namespace {

constexpr double kInt31Max = 2147483647.0;
// Standard deviations of headroom for the noise (see the header).
constexpr double kNoiseHeadroom = 8.0;
constexpr double kPi = 3.14159265358979323846;

}  // namespace

absl::StatusOr<DistributedGaussianPlan> PlanDistributedGaussian(uint32_t cohort,
                                                                uint32_t threshold, size_t dim,
                                                                double clip,
                                                                double noise_multiplier) {
  if (cohort == 0 || threshold == 0 || threshold > cohort) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distributed DP: threshold ", threshold, " must be in [1, cohort ", cohort, "]"));
  }
  if (dim == 0) return absl::InvalidArgumentError("distributed DP: empty model");
  if (!(clip > 0) || !std::isfinite(clip)) {
    return absl::InvalidArgumentError(absl::StrCat("distributed DP: clip ", clip, " is not > 0"));
  }
  if (!(noise_multiplier > 0) || !std::isfinite(noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed DP: noise multiplier ", noise_multiplier, " is not > 0"));
  }
  const double n = cohort;
  // With all n surviving the sum's noise is z * Delta * sqrt(n / t).
  const double growth = std::sqrt(n / threshold);
  const double rounding = std::sqrt(static_cast<double>(dim)) / 2.0;
  // n * (scale * clip + 1/2) + k * (scale * clip + rounding) <= 2^31 - 1,
  // k = 8 z g: each member's word is its clipped value rounded (at most half
  // a unit more), and the noise of all n stays within 8 deviations.
  const double k = kNoiseHeadroom * noise_multiplier * growth;
  const double room = kInt31Max - k * rounding - 0.5 * n;
  const double scale = std::floor(room / (clip * (n + k)));
  // Rounding must stay small against the signal, or the noise calibrated to
  // Delta would mostly cover rounding.
  if (!(scale * clip >= 100.0 * rounding)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distributed DP: a model of ", dim, " values over ", cohort,
        " clients leaves a fixed-point scale of ", scale, " for clip ", clip,
        "; rounding would dominate (lower the cohort or the noise multiplier)"));
  }
  DistributedGaussianPlan p;
  p.encoding.clip = static_cast<float>(clip);
  p.encoding.scale = scale;
  p.encoding.max_weight = 1;
  p.sensitivity = scale * clip + rounding;
  p.client_sigma = noise_multiplier * p.sensitivity / std::sqrt(static_cast<double>(threshold));
  p.min_total_sigma = p.client_sigma * std::sqrt(static_cast<double>(threshold));
  for (uint32_t j = 1; j < cohort; ++j) {
    p.tau += 10.0 * std::exp(-2.0 * kPi * kPi * p.client_sigma * p.client_sigma * j / (j + 1.0));
  }
  if (p.tau > 1e-12) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distributed DP: per-client noise of ", p.client_sigma,
        " words is too small for the sum to be a discrete Gaussian (tau ", p.tau, ")"));
  }
  return p;
}

}  // namespace fedge::privacy
