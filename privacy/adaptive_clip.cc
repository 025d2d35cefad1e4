#include "privacy/adaptive_clip.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/little_endian.h"

namespace fedge::privacy {
namespace {

constexpr char kMagic[4] = {'F', 'A', 'C', 'L'};
constexpr uint32_t kStateVersion = 1;
constexpr size_t kStateSize = 4 + 4 + 8 + 8;

bool PositiveFinite(double v) { return v > 0 && std::isfinite(v); }

}  // namespace

absl::Status ValidateAdaptiveClipConfig(const AdaptiveClipConfig& config) {
  if (!PositiveFinite(config.initial_clip)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adaptive clip: initial clip ", config.initial_clip, " is not positive and finite"));
  }
  if (!(config.target_quantile >= 0 && config.target_quantile <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adaptive clip: target quantile ", config.target_quantile, " is not in [0, 1]"));
  }
  if (!(config.learning_rate >= 0) || !std::isfinite(config.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adaptive clip: learning rate ", config.learning_rate, " is negative or not finite"));
  }
  if (!(config.count_noise_stddev >= 0) || !std::isfinite(config.count_noise_stddev)) {
    return absl::InvalidArgumentError(absl::StrCat("adaptive clip: count noise stddev ",
                                                   config.count_noise_stddev,
                                                   " is negative or not finite"));
  }
  return absl::OkStatus();
}

AdaptiveClip::AdaptiveClip(const AdaptiveClipConfig& config)
    : config_(config), clip_(config.initial_clip) {}

absl::StatusOr<std::unique_ptr<AdaptiveClip>> AdaptiveClip::Create(
    const AdaptiveClipConfig& config) {
  if (absl::Status s = ValidateAdaptiveClipConfig(config); !s.ok()) return s;
  return std::make_unique<AdaptiveClip>(config);
}

double AdaptiveClip::Update(double unclipped_count, double cohort_size, RandomBits& bits) {
  return Update(unclipped_count, cohort_size, cohort_size, bits);
}

double AdaptiveClip::Update(double unclipped_count, double reported, double expected_cohort,
                            RandomBits& bits) {
  if (!PositiveFinite(expected_cohort)) return clip_;
  reported = std::isfinite(reported) ? std::max(0.0, reported) : 0.0;
  unclipped_count =
      std::isfinite(unclipped_count) ? std::clamp(unclipped_count, 0.0, reported) : 0.0;
  // Centered, so one client more or less moves the sum by 1/2 (Theorem 1).
  double centered = unclipped_count - 0.5 * reported;
  if (config_.count_noise_stddev > 0) centered += config_.count_noise_stddev * StandardNormal(bits);
  const double unclipped_fraction = std::clamp(centered / expected_cohort + 0.5, 0.0, 1.0);
  clip_ *= std::exp(-config_.learning_rate * (unclipped_fraction - config_.target_quantile));
  ++rounds_;
  return clip_;
}

std::string AdaptiveClip::SaveState() const {
  std::string out(kMagic, sizeof(kMagic));
  AppendLe(kStateVersion, 4, &out);
  uint64_t clip_bits;
  std::memcpy(&clip_bits, &clip_, sizeof(clip_bits));
  AppendLe(clip_bits, 8, &out);
  AppendLe(rounds_, 8, &out);
  return out;
}

absl::Status AdaptiveClip::RestoreState(absl::string_view state) {
  if (state.size() != kStateSize || std::memcmp(state.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("adaptive clip state: ", state.size(),
                                                   " bytes, want ", kStateSize,
                                                   " starting FACL"));
  }
  const uint64_t version = GetLe(state.data() + 4, 4);
  if (version != kStateVersion) {
    return absl::InvalidArgumentError(absl::StrCat("adaptive clip state: version ", version,
                                                   ", this build reads ", kStateVersion));
  }
  const uint64_t clip_bits = GetLe(state.data() + 8, 8);
  double clip;
  std::memcpy(&clip, &clip_bits, sizeof(clip));
  if (!PositiveFinite(clip)) {
    return absl::InvalidArgumentError(
        absl::StrCat("adaptive clip state: clip ", clip, " is not positive and finite"));
  }
  clip_ = clip;
  rounds_ = GetLe(state.data() + 16, 8);
  return absl::OkStatus();
}

absl::StatusOr<double> UpdateNoiseMultiplier(double total_noise_multiplier,
                                             double count_noise_stddev) {
  const double z = total_noise_multiplier;
  const double sigma_b = count_noise_stddev;
  if (!PositiveFinite(z)) {
    return absl::InvalidArgumentError(
        absl::StrCat("adaptive clip: total noise multiplier ", z, " is not positive and finite"));
  }
  if (!PositiveFinite(sigma_b)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adaptive clip: count noise stddev ", sigma_b,
        " is not positive and finite (an unnoised count is not private)"));
  }
  if (sigma_b <= z / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adaptive clip: count noise stddev ", sigma_b, " <= total noise multiplier ", z,
        " / 2 leaves no budget for the updates; raise the count noise above ", z / 2));
  }
  return 1 / std::sqrt(1 / (z * z) - 1 / (4 * sigma_b * sigma_b));
}

}  // namespace fedge::privacy
