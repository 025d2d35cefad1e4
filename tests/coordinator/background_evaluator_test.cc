// BackgroundEvaluator with a real thread and a real eventfd: Start returns
// while the evaluation still runs, the descriptor becomes readable when the
// result is there, and the result is taken once.

#include "coordinator/background_evaluator.h"

#include <poll.h>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

TEST(BackgroundEvaluatorTest, StartReturnsAtOnceAndTheResultWakesThePoller) {
  absl::Notification release;
  auto e = BackgroundEvaluator::Create([&](absl::Span<const float> w) {
    release.WaitForNotification();  // held until the test has checked Start returned
    EvalMetrics m;
    m.loss = w[0] + w[1];
    return absl::StatusOr<EvalMetrics>(m);
  });
  ASSERT_THAT(e, IsOk());
  (*e)->Start(3, std::make_shared<const std::vector<float>>(std::vector<float>{1, 2}));
  EXPECT_FALSE(Readable((*e)->wake_fd(), 0));
  EXPECT_FALSE((*e)->TakeResult().has_value());
  release.Notify();
  ASSERT_TRUE(Readable((*e)->wake_fd(), 30000));
  std::optional<BackgroundEvaluator::Result> r = (*e)->TakeResult();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->round, 3u);
  ASSERT_THAT(r->metrics, IsOk());
  EXPECT_EQ(r->metrics->loss, 3.0);
  EXPECT_FALSE(Readable((*e)->wake_fd(), 0));  // taken: no longer signalled
  EXPECT_FALSE((*e)->TakeResult().has_value());

  // An error travels as the result, and a second evaluation works.
  auto failing = BackgroundEvaluator::Create(
      [](absl::Span<const float>) -> absl::StatusOr<EvalMetrics> {
        return absl::InternalError("no memory");
      });
  ASSERT_THAT(failing, IsOk());
  for (uint64_t round : {1, 2}) {
    (*failing)->Start(round, std::make_shared<const std::vector<float>>(1, 0.0f));
    ASSERT_TRUE(Readable((*failing)->wake_fd(), 30000));
    r = (*failing)->TakeResult();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->round, round);
    EXPECT_EQ(r->metrics.status().code(), absl::StatusCode::kInternal);
  }
}

TEST(BackgroundEvaluatorTest, DestroyingItWhileIdleOrBusyJoinsTheWorker) {
  { ASSERT_THAT(BackgroundEvaluator::Create([](absl::Span<const float>) {
      return absl::StatusOr<EvalMetrics>(EvalMetrics());
    }), IsOk()); }
  absl::Notification entered;
  auto e = BackgroundEvaluator::Create([&](absl::Span<const float>) {
    entered.Notify();
    return absl::StatusOr<EvalMetrics>(EvalMetrics());
  });
  ASSERT_THAT(e, IsOk());
  (*e)->Start(1, std::make_shared<const std::vector<float>>(1, 0.0f));
  entered.WaitForNotification();
  e->reset();  // joins; the result is dropped
}

}  // namespace
}  // namespace fedge::coordinator
