// --mode=async (FedBuff), its sans-I/O parts: the staleness weight against
// its closed form, a buffer against a reference computed here, the refusals,
// and the task slots. The coordinator in async mode: async_coordinator_test.cc.

#include "coordinator/async_round.h"

#include <cmath>
#include <map>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aggregation/aggregator.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using ::testing::HasSubstr;
using protocol::ErrorCode;

TEST(StalenessWeightTest, IsThePolynomialDiscount) {
  EXPECT_DOUBLE_EQ(StalenessWeight(0, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(StalenessWeight(3, 0.5), 0.5);  // 1/sqrt(4)
  EXPECT_DOUBLE_EQ(StalenessWeight(8, 0.5), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(StalenessWeight(1, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(StalenessWeight(1000, 0.0), 1.0);
  for (uint64_t s = 0; s < 50; ++s) {
    EXPECT_LT(StalenessWeight(s + 1, 0.5), StalenessWeight(s, 0.5));
  }
}

protocol::Update UpdateOn(uint64_t version, uint64_t client, uint64_t examples,
                          std::vector<float> delta) {
  protocol::Update u;
  u.round = 1;
  u.model_version = version;
  u.client_id = client;
  u.num_examples = examples;
  u.delta = std::move(delta);
  return u;
}

AsyncRound::Settings BufferOf(uint32_t k, uint64_t version) {
  AsyncRound::Settings s;
  s.round = version + 1;
  s.model_version = version;
  s.options.enabled = true;
  s.options.buffer = k;
  s.options.max_staleness = 3;
  s.options.staleness_exponent = 0.5;
  s.model_size = 3;
  return s;
}

TEST(AsyncRoundTest, FoldsStaleUpdatesWithTheirDiscountAndExampleWeights) {
  std::unique_ptr<aggregation::Aggregator> fedavg = aggregation::MakeFedAvgAggregator();
  AsyncRound round(BufferOf(3, 10), fedavg.get());
  const std::vector<float> a = {1, 2, 3}, b = {-4, 0, 8}, c = {0.5f, 0.5f, -1};
  // Staleness 0, 3 and 1, from 100, 50 and 200 examples.
  protocol::Update ua = UpdateOn(10, 1, 100, a), ub = UpdateOn(7, 2, 50, b),
                   uc = UpdateOn(9, 3, 200, c);
  EXPECT_EQ(round.OnUpdate("a", ua), std::nullopt);
  EXPECT_TRUE(round.Advance(absl::Now(), {}).empty());
  EXPECT_EQ(round.outcome(), Round::Outcome::kRunning);
  EXPECT_EQ(round.OnUpdate("b", ub), std::nullopt);
  EXPECT_EQ(round.OnUpdate("c", uc), std::nullopt);
  round.Advance(absl::Now(), {});
  ASSERT_EQ(round.outcome(), Round::Outcome::kCompleted);
  std::vector<float> delta(3);
  RoundReport report;
  ASSERT_THAT(round.Finish(absl::MakeSpan(delta), &report), IsOk());
  // The reference: sum n_i w(s_i) delta_i / sum n_i, w(s) = 1/sqrt(1 + s).
  const double wa = 1, wb = 0.5, wc = 1 / std::sqrt(2.0);
  for (size_t i = 0; i < 3; ++i) {
    const double want = (100 * wa * a[i] + 50 * wb * b[i] + 200 * wc * c[i]) / 350;
    EXPECT_NEAR(delta[i], want, 1e-6) << i;
  }
  EXPECT_EQ(report.aggregated, 3u);
  ASSERT_TRUE(report.async.has_value());
  EXPECT_DOUBLE_EQ(report.async->staleness_mean, 4.0 / 3.0);
  EXPECT_EQ(report.async->staleness_max, 3u);
  EXPECT_EQ(report.async->stale_refused, 0u);
}

TEST(AsyncRoundTest, RefusesTooStaleNewerMalformedAndControlVariates) {
  std::unique_ptr<aggregation::Aggregator> fedavg = aggregation::MakeFedAvgAggregator();
  AsyncRound round(BufferOf(2, 10), fedavg.get());
  protocol::Update stale = UpdateOn(6, 1, 10, {1, 1, 1});  // 4 > max_staleness 3
  std::optional<Refusal> r = round.OnUpdate("a", stale);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, ErrorCode::kStale);
  EXPECT_THAT(r->why, HasSubstr("4 versions behind the current 10 (--max_staleness=3)"));
  EXPECT_EQ(round.stale_refused(), 1u);
  protocol::Update newer = UpdateOn(11, 1, 10, {1, 1, 1});
  EXPECT_EQ(round.OnUpdate("a", newer)->code, ErrorCode::kWrongModelVersion);
  protocol::Update short_one = UpdateOn(10, 1, 10, {1, 1});
  EXPECT_EQ(round.OnUpdate("a", short_one)->code, ErrorCode::kWrongLength);
  protocol::Update nan = UpdateOn(10, 1, 10, {1, NAN, 1});
  EXPECT_EQ(round.OnUpdate("a", nan)->code, ErrorCode::kNonFinite);
  protocol::Update none = UpdateOn(10, 1, 0, {1, 1, 1});
  EXPECT_EQ(round.OnUpdate("a", none)->code, ErrorCode::kBadWeight);
  protocol::Update control = UpdateOn(10, 1, 10, {1, 1, 1});
  control.control_delta = {1, 1, 1};
  EXPECT_EQ(round.OnUpdate("a", control)->code, ErrorCode::kWrongLength);
  EXPECT_EQ(round.inputs_accepted(), 0u);  // nothing refused was folded
  protocol::Update edge = UpdateOn(7, 1, 10, {1, 1, 1});  // exactly max_staleness
  EXPECT_EQ(round.OnUpdate("a", edge), std::nullopt);
}

TEST(AsyncTasksTest, ChoosesIdlePeersUpToTheConcurrencyAndExpiresOverdueTasks) {
  AsyncTasks tasks;
  std::mt19937_64 rng(7);
  const std::vector<std::string> all = {"a", "b", "c", "d", "e"};
  std::vector<std::string> first = tasks.Choose(all, 3, rng);
  ASSERT_EQ(first.size(), 3u);
  const absl::Time t0 = absl::FromUnixSeconds(100);
  for (size_t i = 0; i < first.size(); ++i) {
    tasks.Start(first[i], {1, 0, t0 + absl::Seconds(static_cast<int>(i) + 1)});
  }
  EXPECT_TRUE(tasks.Choose(all, 3, rng).empty());  // full
  std::vector<std::string> more = tasks.Choose(all, 5, rng);
  ASSERT_EQ(more.size(), 2u);
  for (const std::string& p : more) {
    EXPECT_EQ(tasks.Find(p), nullptr) << p;  // only idle peers
  }
  EXPECT_EQ(tasks.NextDeadline(), t0 + absl::Seconds(1));
  EXPECT_THAT(tasks.Expire(t0 + absl::Seconds(2)), ::testing::UnorderedElementsAre(first[0],
                                                                                    first[1]));
  EXPECT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks.End(first[2]));
  EXPECT_FALSE(tasks.End(first[2]));
  EXPECT_EQ(tasks.NextDeadline(), absl::InfiniteFuture());
  // Uniform: over many draws every peer is chosen about equally often.
  std::map<std::string, int> counts;
  for (int i = 0; i < 6000; ++i) {
    for (const std::string& p : AsyncTasks().Choose(all, 2, rng)) ++counts[p];
  }
  for (const auto& [p, n] : counts) EXPECT_NEAR(n, 2400, 200) << p;
}

}  // namespace
}  // namespace fedge::coordinator
