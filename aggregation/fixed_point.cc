#include "aggregation/fixed_point.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/splitmix.h"

namespace fedge::aggregation {
namespace {

// 2^(bits-1) - 1: the largest sum a ring of `bits` bits holds as a signed value.
double RingMax(uint32_t bits) { return std::ldexp(1.0, static_cast<int>(bits) - 1) - 1; }

// Coins for the stochastic rounding of small rings.
using Coins = SplitMix64;

// Round to nearest in a 32-bit ring (the historical encoding, exact enough
// that its rounding never mattered), floor plus a coin below it.
int64_t RoundWord(double v, uint32_t bits, Coins& coins) {
  if (bits == 32) return static_cast<int64_t>(std::llround(v));
  const double lo = std::floor(v);
  return static_cast<int64_t>(lo) + (coins.Uniform() < v - lo ? 1 : 0);
}

absl::Status CheckConfig(const FixedPointConfig& c) {
  if (c.bits < kMinRingBits || c.bits > 32) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: a ring of ", c.bits,
                                                   " bits; want ", kMinRingBits, " to 32"));
  }
  if (!std::isfinite(c.clip) || c.clip <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: clip ", c.clip, " is not > 0"));
  }
  if (!std::isfinite(c.scale) || c.scale < 1 || c.scale > RingMax(c.bits)) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: scale ", c.scale,
                                                   " is outside [1, 2^", c.bits - 1, "-1]"));
  }
  if (c.max_weight == 0) return absl::InvalidArgumentError("fixed point: max_weight is 0");
  return absl::OkStatus();
}

// The largest magnitude one client may contribute to a word so that the sum of
// num_clients contributions stays within the ring's signed range. Rounding
// can exceed clip * scale by up to one unit when clip * scale is not an
// integer, so the encoder clamps to this bound as well (never more than one
// unit).
int64_t WordBound(const FixedPointConfig& c) {
  const double b = std::floor(c.scale * std::max(static_cast<double>(c.clip), 1.0));
  return static_cast<int64_t>(std::min(b, RingMax(c.bits)));
}

// out[i] = round(clip(values[i]) * factor), clamped to WordBound, two's
// complement mod 2^32; counts the clipped values.
absl::Status EncodeScaled(const char* what, absl::Span<const float> values, double factor,
                          const FixedPointConfig& config, absl::Span<uint32_t> out,
                          size_t* clipped, Coins& coins) {
  const double clip = config.clip;
  const int64_t bound = WordBound(config);
  for (size_t i = 0; i < values.size(); ++i) {
    const double x = values[i];
    if (!std::isfinite(x)) {
      return absl::InvalidArgumentError(
          absl::StrCat("fixed point: ", what, "[", i, "] is not finite"));
    }
    *clipped += (x > clip || x < -clip) ? 1 : 0;
    const double c = std::min(clip, std::max(-clip, x));
    int64_t q = RoundWord(c * factor, config.bits, coins);
    q = std::min(bound, std::max(-bound, q));
    out[i] = static_cast<uint32_t>(q);  // two's complement mod 2^32
  }
  return absl::OkStatus();
}

}  // namespace

int64_t RingToSigned(uint32_t word, uint32_t bits) {
  if (bits >= 32) return static_cast<int32_t>(word);
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  const int64_t v = static_cast<int64_t>(word & mask);
  return v >= (int64_t{1} << (bits - 1)) ? v - (int64_t{1} << bits) : v;
}

absl::StatusOr<FixedPointConfig> MakeFixedPointConfig(uint32_t num_clients, float clip,
                                                      uint64_t max_weight, uint32_t bits) {
  if (num_clients == 0) return absl::InvalidArgumentError("fixed point: 0 clients");
  if (bits < kMinRingBits || bits > 32) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: a ring of ", bits,
                                                   " bits; want ", kMinRingBits, " to 32"));
  }
  if (!std::isfinite(clip) || clip <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: clip ", clip, " is not > 0"));
  }
  if (max_weight == 0) return absl::InvalidArgumentError("fixed point: max_weight is 0");
  FixedPointConfig c;
  c.clip = clip;
  c.max_weight = max_weight;
  c.bits = bits;
  c.scale = std::floor(RingMax(bits) / (static_cast<double>(num_clients) *
                                        std::max(static_cast<double>(clip), 1.0)));
  if (c.scale < 1) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: ", num_clients,
                                                   " clients with clip ", clip,
                                                   " leave no precision in ", bits - 1, " bits"));
  }
  return c;
}

absl::Status EncodeFixedPoint(absl::Span<const float> delta, uint64_t weight,
                              const FixedPointConfig& config, absl::Span<uint32_t> out,
                              size_t* clipped, uint64_t rounding_seed) {
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  if (out.size() != delta.size() + 1) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: output has ", out.size(),
                                                   " words for ", delta.size(),
                                                   " values, want values + 1"));
  }
  if (weight == 0) return absl::InvalidArgumentError("fixed point: weight 0");
  const double w = static_cast<double>(std::min(weight, config.max_weight)) /
                   static_cast<double>(config.max_weight);
  const double ws = w * config.scale;
  size_t n_clipped = 0;
  Coins coins(rounding_seed);
  if (absl::Status s = EncodeScaled("delta", delta, ws, config, out.first(delta.size()),
                                    &n_clipped, coins);
      !s.ok()) {
    return s;
  }
  const int64_t bound = WordBound(config);
  out[delta.size()] = static_cast<uint32_t>(std::min(bound, RoundWord(ws, config.bits, coins)));
  if (clipped != nullptr) *clipped = n_clipped;
  return absl::OkStatus();
}

absl::StatusOr<double> DecodeFixedPointMean(absl::Span<const uint32_t> sum,
                                            const FixedPointConfig& config,
                                            absl::Span<float> mean_delta) {
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  if (sum.size() != mean_delta.size() + 1) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: sum has ", sum.size(),
                                                   " words for ", mean_delta.size(),
                                                   " values, want values + 1"));
  }
  // The encoder guarantees the true sums fit int32, so reading the words as
  // signed recovers them exactly.
  const int64_t weight_word = RingToSigned(sum[mean_delta.size()], config.bits);
  if (weight_word <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("fixed point: summed weight word is ", weight_word, ", want > 0"));
  }
  const double inv = 1.0 / static_cast<double>(weight_word);
  for (size_t i = 0; i < mean_delta.size(); ++i) {
    mean_delta[i] = static_cast<float>(static_cast<double>(RingToSigned(sum[i], config.bits)) * inv);
  }
  return static_cast<double>(weight_word) / config.scale;
}

absl::Status EncodeFixedPointValues(absl::Span<const float> values,
                                    const FixedPointConfig& config, absl::Span<uint32_t> out,
                                    size_t* clipped, uint64_t rounding_seed) {
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  if (out.size() != values.size()) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: output has ", out.size(),
                                                   " words for ", values.size(), " values"));
  }
  size_t n_clipped = 0;
  Coins coins(rounding_seed);
  if (absl::Status s = EncodeScaled("values", values, config.scale, config, out, &n_clipped, coins);
      !s.ok()) {
    return s;
  }
  if (clipped != nullptr) *clipped += n_clipped;
  return absl::OkStatus();
}

absl::Status DecodeFixedPointValuesMean(absl::Span<const uint32_t> sum,
                                        const FixedPointConfig& config, size_t count,
                                        absl::Span<float> mean) {
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  if (sum.size() != mean.size()) {
    return absl::InvalidArgumentError(absl::StrCat("fixed point: sum has ", sum.size(),
                                                   " words for ", mean.size(), " values"));
  }
  if (count == 0) return absl::FailedPreconditionError("fixed point: mean over 0 clients");
  const double inv = 1.0 / (static_cast<double>(count) * config.scale);
  for (size_t i = 0; i < mean.size(); ++i) {
    mean[i] = static_cast<float>(static_cast<double>(RingToSigned(sum[i], config.bits)) * inv);
  }
  return absl::OkStatus();
}

}  // namespace fedge::aggregation
