#ifndef FEDGE_CLIENT_DEVICE_PRIVACY_H_
#define FEDGE_CLIENT_DEVICE_PRIVACY_H_

// A device's part of differential privacy (docs/privacy.md), as the task's
// protocol::PrivacyConfig asks: clip the whole trained delta to an L2 norm
// (every coordinate leaves the device, buffers too) and, under local DP, add
// Gaussian noise to it; under distributed DP the noise goes into the
// fixed-point words of the secure-aggregation input instead
// (AddDistributedNoise, called by SecureSession). What was done is kept in
// DevicePrivacy so the SDK can tell the firmware what left the device.
// Noise comes from OpenSSL's CSPRNG. No torch.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "privacy/noise.h"
#include "protocol/messages.h"

namespace fedge::client {

struct DevicePrivacy {
  protocol::PrivacyMode mode = protocol::PrivacyMode::kOff;
  double clip = 0;          // the L2 bound applied (0: none)
  double norm = 0;          // the delta's norm before clipping
  bool clipped = false;     // norm > clip: the delta was scaled down
  double noise_stddev = 0;  // per coordinate (local) or per word (distributed); 0: none
};

// Applies `config` to a trained `delta` (local: clip and noise; distributed:
// clip; off, central: nothing) and says what it did. Under local DP the
// training metrics are cleared too: a loss computed on the raw data would
// leave the device unnoised. InvalidArgument on a non-finite delta.
absl::Status ApplyDevicePrivacy(const protocol::PrivacyConfig& config, absl::Span<float> delta,
                                protocol::LocalMetrics* metrics, privacy::RandomBits& bits,
                                DevicePrivacy* applied);

// Distributed DP: adds discrete Gaussian noise of `stddev` words to every
// fixed-point word of a secure-aggregation input.
void AddDistributedNoise(double stddev, absl::Span<uint32_t> words, privacy::RandomBits& bits);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_DEVICE_PRIVACY_H_
