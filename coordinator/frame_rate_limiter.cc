#include "coordinator/frame_rate_limiter.h"

#include <algorithm>

namespace fedge::coordinator {

double FrameRateLimiter::Refilled(const Bucket& b, absl::Time now) const {
  // Time never runs backwards for the limiter (a clock step is ignored).
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - b.updated));
  return std::min(limit_.burst, b.tokens + elapsed * limit_.frames_per_second);
}

bool FrameRateLimiter::Allow(const std::string& key, absl::Time now) {
  if (!enabled()) return true;
  auto [it, fresh] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  b.tokens = fresh ? limit_.burst : Refilled(b, now);
  b.updated = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void FrameRateLimiter::PruneFull(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (Refilled(it->second, now) >= limit_.burst) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace fedge::coordinator
