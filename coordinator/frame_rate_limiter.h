#ifndef FEDGE_COORDINATOR_FRAME_RATE_LIMITER_H_
#define FEDGE_COORDINATOR_FRAME_RATE_LIMITER_H_

// Token buckets that cap how many frames each sender may have handled per
// second, so one flooding client cannot take the coordinator's time from the
// rest. The Coordinator keys one bucket per registered peer and one shared
// bucket for everything from unregistered peers (Hellos, mostly); a frame
// over the limit is refused as RATE_LIMITED before it is decoded.
//
// A bucket holds up to `burst` tokens and refills at `frames_per_second`; a
// frame takes one token. A bucket that has refilled completely is the same as
// a new one, so PruneFull forgets it: memory stays bounded by the peers that
// sent something recently. Time comes from the caller. Not thread-safe.

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"

namespace fedge::coordinator {

struct FrameRateLimit {
  // Sustained frames per second per bucket; 0 disables limiting.
  double frames_per_second = 0;
  // Frames a bucket may take at once after a quiet spell (>= 1).
  double burst = 1;
};

class FrameRateLimiter {
 public:
  explicit FrameRateLimiter(FrameRateLimit limit) : limit_(limit) {}

  bool enabled() const { return limit_.frames_per_second > 0; }

  // Takes a token from `key`'s bucket: true if the frame may be handled.
  // Always true when disabled.
  bool Allow(const std::string& key, absl::Time now);

  // Forgets buckets that are full at `now`.
  void PruneFull(absl::Time now);

  size_t buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  double Refilled(const Bucket& b, absl::Time now) const;

  const FrameRateLimit limit_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_FRAME_RATE_LIMITER_H_
