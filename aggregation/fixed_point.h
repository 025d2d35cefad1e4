#ifndef FEDGE_AGGREGATION_FIXED_POINT_H_
#define FEDGE_AGGREGATION_FIXED_POINT_H_

// Fixed-point encoding of weighted model deltas for secure aggregation, whose
// arithmetic is over words mod 2^32.
//
// Encodes a client's weighted delta into words mod 2^32 for secure aggregation.
// Layout of an encoded input: d words for w' * clip(delta[i]) and one final word for w',
// where w' = min(weight, max_weight) / max_weight in (0,1]. Each value v becomes
// uint32(int64(round(v * scale))) (two's complement). scale = floor((2^31-1) / (num_clients * max(clip,1)))
// so the sum of num_clients inputs never wraps.
//
// Why this works: every encoded value is |w' * clip(x)| <= clip (coordinates)
// or w' <= 1 (the weight word), so each word is at most scale * max(clip, 1)
// in magnitude and the sum of num_clients words at most 2^31 - 1: the sum,
// read back as a signed 32-bit integer, is exact. Rounding costs at most
// 0.5 / scale per client and coordinate.
//
// Clipping is per coordinate: clip(x) = max(-clip, min(clip, x)).
//
// A smaller ring (bits < 32, for update compression under SecAgg): the same
// with 2^31 - 1 replaced by 2^(bits-1) - 1; words stay uint32 in memory, the
// secure sum is reduced mod 2^bits and read back sign-extended from `bits`.
// Below 32 bits the encoder rounds stochastically (floor plus a coin of
// probability equal to the fraction, seeded by the caller), so the few
// levels left per client cost variance, not bias.
//
// All functions are pure and thread-safe.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fedge::aggregation {

inline constexpr uint32_t kMinRingBits = 8;

struct FixedPointConfig {
  float clip = 1.0f;        // per-coordinate bound on |delta[i]|
  double scale = 0;         // fixed-point scale (units per 1.0)
  uint64_t max_weight = 1;  // weights (example counts) are capped here and normalised by it
  uint32_t bits = 32;       // the ring: sums are taken mod 2^bits, kMinRingBits..32
};

// InvalidArgument on n==0, clip<=0 or non-finite, max_weight==0, bits outside
// [kMinRingBits, 32], or when the scale would be below 1 (num_clients * clip
// too large for bits - 1 bits).
absl::StatusOr<FixedPointConfig> MakeFixedPointConfig(uint32_t num_clients, float clip,
                                                      uint64_t max_weight, uint32_t bits = 32);

// out.size() must be delta.size()+1. InvalidArgument on size mismatch, non-finite delta,
// weight==0, or an invalid config. *clipped (may be null) counts clipped coordinates.
// `rounding_seed` seeds the stochastic rounding of rings below 32 bits.
absl::Status EncodeFixedPoint(absl::Span<const float> delta, uint64_t weight,
                              const FixedPointConfig& config, absl::Span<uint32_t> out,
                              size_t* clipped, uint64_t rounding_seed = 0);

// `word` (a sum mod 2^bits) as a signed integer of `bits` bits.
int64_t RingToSigned(uint32_t word, uint32_t bits);

// sum.size() == mean_delta.size()+1. Writes sum_delta/sum_weight into mean_delta; returns the
// total normalised weight sum (sum of w'). FailedPrecondition if the weight word is <= 0;
// InvalidArgument on size mismatch or an invalid config.
absl::StatusOr<double> DecodeFixedPointMean(absl::Span<const uint32_t> sum,
                                            const FixedPointConfig& config,
                                            absl::Span<float> mean_delta);

// An unweighted section (SCAFFOLD's control-variate change, which the server
// averages over clients, not examples): out[i] = round(clip(values[i]) *
// scale), the same per-word bound as above, so a SecAgg input may be
// [EncodeFixedPoint words | EncodeFixedPointValues words] and still never
// wrap. out.size() == values.size(). *clipped (may be null) is increased by
// the clipped values. InvalidArgument on size mismatch, non-finite values or
// an invalid config.
absl::Status EncodeFixedPointValues(absl::Span<const float> values,
                                    const FixedPointConfig& config, absl::Span<uint32_t> out,
                                    size_t* clipped, uint64_t rounding_seed = 0);

// The mean over `count` clients of summed EncodeFixedPointValues sections.
// FailedPrecondition when count is 0; InvalidArgument on size mismatch or an
// invalid config.
absl::Status DecodeFixedPointValuesMean(absl::Span<const uint32_t> sum,
                                        const FixedPointConfig& config, size_t count,
                                        absl::Span<float> mean);

}  // namespace fedge::aggregation

#endif  // FEDGE_AGGREGATION_FIXED_POINT_H_
