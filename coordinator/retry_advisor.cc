#include "coordinator/retry_advisor.h"

#include <algorithm>
#include <cstdint>

namespace fedge::coordinator {
namespace {

// Recent rounds weigh most: a change of cohort size or model shows within a
// few rounds.
constexpr double kAlpha = 0.3;

uint32_t ClampedMillis(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return static_cast<uint32_t>(std::clamp<int64_t>(ms, 0, UINT32_MAX));
}

}  // namespace

void RetryAdvisor::OnRoundCompleted(absl::Duration duration) {
  duration = std::max(duration, absl::ZeroDuration());
  mean_round_ = mean_round_.has_value() ? *mean_round_ * (1 - kAlpha) + duration * kAlpha
                                        : duration;
}

protocol::RetryLater RetryAdvisor::Advise(absl::Time now, std::optional<OpenRound> open_round,
                                          std::string reason) const {
  protocol::RetryLater r;
  r.window_ms = ClampedMillis(window_);
  r.reason = std::move(reason);
  if (open_round.has_value()) {
    absl::Time end = open_round->deadline;
    if (mean_round_.has_value()) end = std::min(end, open_round->start + *mean_round_);
    // A round running late ends by its deadline; until then, soon.
    if (end < now) end = std::min(open_round->deadline, now + window_);
    r.after_ms = ClampedMillis(end - now);
  }
  return r;
}

}  // namespace fedge::coordinator
