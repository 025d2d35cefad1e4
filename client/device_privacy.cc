#include "client/device_privacy.h"

#include <cmath>

#include "aggregation/kernels.h"
#include "aggregation/norm_bound.h"

namespace fedge::client {

using protocol::PrivacyMode;

absl::Status ApplyDevicePrivacy(const protocol::PrivacyConfig& config, absl::Span<float> delta,
                                protocol::LocalMetrics* metrics, privacy::RandomBits& bits,
                                DevicePrivacy* applied) {
  *applied = DevicePrivacy();
  applied->mode = config.mode;
  if (config.mode != PrivacyMode::kLocal && config.mode != PrivacyMode::kDistributed) {
    return absl::OkStatus();
  }
  if (!aggregation::AllFinite(delta.data(), delta.size())) {
    return absl::InvalidArgumentError("the trained delta has NaN or infinite values");
  }
  applied->clip = config.clip;
  applied->norm = aggregation::ClipNorm(delta, {{0, static_cast<uint64_t>(delta.size())}},
                                        config.clip);
  applied->clipped = applied->norm > config.clip;
  if (config.mode == PrivacyMode::kLocal) {
    privacy::AddGaussianNoise(delta, config.noise_stddev, bits);
    *metrics = protocol::LocalMetrics();
    metrics->loss = std::nanf("");
    metrics->accuracy = std::nanf("");
  }
  applied->noise_stddev = config.noise_stddev;
  return absl::OkStatus();
}

void AddDistributedNoise(double stddev, absl::Span<uint32_t> words, privacy::RandomBits& bits) {
  if (stddev > 0) privacy::AddDiscreteGaussianNoise(words, stddev, bits);
}

}  // namespace fedge::client
