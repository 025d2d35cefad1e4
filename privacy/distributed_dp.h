#ifndef FEDGE_PRIVACY_DISTRIBUTED_DP_H_
#define FEDGE_PRIVACY_DISTRIBUTED_DP_H_

// Calibration of the distributed discrete Gaussian (Kairouz, Liu and Steinke,
// "The Distributed Discrete Gaussian Mechanism for Federated Learning with
// Secure Aggregation", ICML 2021) to fedge's secure aggregation.
//
// Each client clips its delta to L2 norm `clip`, encodes it in fixed point
// (aggregation/fixed_point.h: round(x * scale), unweighted, weight word 0)
// and adds discrete Gaussian noise N_Z(0, sigma_i^2) to every word. Only the
// survivors' sum is ever unmasked, and it carries the noise of every
// survivor: variance survivors * sigma_i^2 >= threshold * sigma_i^2, since a
// SecAgg round with fewer than `threshold` survivors aborts and releases
// nothing. So sigma_i = z * Delta / sqrt(threshold) gives the sum at least
// z * Delta, where Delta is the L2 sensitivity of one client's rounded
// input in words: scale * clip (its clipped values) + sqrt(dim) / 2 (the
// rounding of each coordinate, at most half a unit).
//
// A sum of discrete Gaussians is not exactly a discrete Gaussian; Kairouz et
// al. (Proposition 14) bound the gap by tau = 10 * sum_{k=1}^{n-1}
// exp(-2 pi^2 sigma_i^2 k / (k + 1)). At the sigma_i used here (10^4 words
// and more) tau underflows to 0, so the sum is accounted as the Gaussian
// mechanism with multiplier z (the plan refuses a calibration with tau above
// 1e-12).
//
// Wrap-around: the words are summed mod 2^32 and read back as int32. The
// scale leaves room for the clipped values of every member (|sum| <= n *
// clip * scale per coordinate) and 8 standard deviations of the largest
// total noise (all n members surviving): a coordinate wraps with
// probability below 1.3e-15.
//
// Pure functions, no I/O.

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "aggregation/fixed_point.h"

namespace fedge::privacy {

struct DistributedGaussianPlan {
  aggregation::FixedPointConfig encoding;  // clip = the L2 clip, max_weight 1
  double client_sigma = 0;     // words: each client's discrete Gaussian stddev
  double sensitivity = 0;      // words: Delta, as above
  double min_total_sigma = 0;  // words: with exactly `threshold` survivors
  double tau = 0;              // Kairouz et al.'s bound on the sum's gap
};

// The plan for a cohort of `cohort` members of whom at least `threshold`
// must survive, a model of `dim` values, L2 clip `clip` and noise multiplier
// `noise_multiplier`. InvalidArgument naming the value for a bad argument,
// or when the model is so large that rounding dominates the scale.
absl::StatusOr<DistributedGaussianPlan> PlanDistributedGaussian(uint32_t cohort,
                                                                uint32_t threshold, size_t dim,
                                                                double clip,
                                                                double noise_multiplier);

}  // namespace fedge::privacy

#endif  // FEDGE_PRIVACY_DISTRIBUTED_DP_H_
