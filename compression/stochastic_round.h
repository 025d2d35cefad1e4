#ifndef FEDGE_COMPRESSION_STOCHASTIC_ROUND_H_
#define FEDGE_COMPRESSION_STOCHASTIC_ROUND_H_

// The int8/int4 quantisers' unbiased rounding (compression.h): coordinate i
// of a block with scale s > 0 becomes
//   q_i = floor(v) + [u_i < v - floor(v)],   v = x_i / s (float division),
// clamped to [-L, L], where the coin u_i = (Coin(key, i) >> 8) * 2^-24 is a
// 24-bit uniform in [0, 1) drawn from a counter-based hash of the
// coordinate's index, so any range of coordinates can be rounded
// independently, in any order, eight at a time. P(round up) is frac(v) to
// within 2^-24. A block of scale 0 rounds to zeros.
//
// One vector path (AVX2, found at run time) and the portable loop give the
// same bytes. Per value the earlier sequential generator (a double division
// and a 53-bit SplitMix64 coin, ~3.5 ns) cost as much CPU in a 200-client
// simulation as the encryption the smaller upload saved.

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace fedge::compression {

// The key of a quantisation's coins: one SplitMix64 step of its seed, so
// neighbouring seeds give unrelated coins.
uint64_t CoinKey(uint64_t seed);
// 32 uniform bits for coordinate `index`: two rounds of a 32-bit integer
// hash (xor-shift-multiply), each keyed by one half of `key`.
uint32_t Coin(uint64_t key, uint32_t index);

// q[j] for coordinates first + j, j < x.size(), as above.
void RoundStochastic(absl::Span<const float> x, float s, int32_t levels, uint64_t key,
                     uint32_t first, int8_t* q);

namespace round_internal {
void RoundPortable(absl::Span<const float> x, float s, int32_t levels, uint64_t key,
                   uint32_t first, int8_t* q);
// Only when CpuHasAvx2() (base/cpu_features.h).
void RoundAvx2(absl::Span<const float> x, float s, int32_t levels, uint64_t key, uint32_t first,
               int8_t* q);
}  // namespace round_internal

}  // namespace fedge::compression

#endif  // FEDGE_COMPRESSION_STOCHASTIC_ROUND_H_
