// Check-in devices (Hello with kCapCheckIn, the SDK's run-once) and Leave,
// driven sans-I/O: who is told to come back, when, with which model, and
// that a Leave frees the round at once.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/coordinator.h"
#include "coordinator/retry_advisor.h"
#include "tests/coordinator/fakes.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;

class CheckInTest : public ::testing::Test {
 protected:
  void Start(uint32_t min_clients, uint32_t clients_per_round = 0) {
    CoordinatorConfig cfg;
    cfg.rounds = 5;
    cfg.min_clients = min_clients;
    cfg.quorum = 1;
    cfg.clients_per_round = clients_per_round;
    cfg.round_timeout = absl::Seconds(60);
    cfg.retry_window = absl::Seconds(20);
    cfg.training.batch_size = 8;
    protocol::ModelPayload m;
    m.manifest.tensors = {{"w", {4}, protocol::DType::kFloat32}};
    m.architecture_id = "builtin:mlp";
    m.architecture = "mlp";
    m.weights = {1, 1, 1, 1};
    auto c = Coordinator::Create(cfg, m, &outbox_, nullptr, &reports_, now_);
    ASSERT_THAT(c, IsOk());
    coord_ = *std::move(c);
  }
  void Send(const std::string& peer, const protocol::Message& m) {
    coord_->OnFrame(peer, protocol::Encode(m), now_);
  }
  // A persistent client (fedge-client) or a check-in device.
  void Hello(const std::string& peer, uint64_t id, bool check_in,
             std::optional<uint64_t> held = std::nullopt) {
    protocol::Hello h;
    h.client_id = id;
    h.num_examples = 100;
    h.capabilities = check_in ? protocol::kCapCheckIn : 0;
    h.has_model = held.has_value();
    h.model_version = held.value_or(0);
    Send(peer, h);
  }
  void UpdateFrom(const std::string& peer, uint64_t id) {
    const auto tasks = outbox_.To<protocol::Task>(peer);
    ASSERT_FALSE(tasks.empty()) << peer << " has no task";
    protocol::Update u;
    u.round = tasks.back().round;
    u.model_version = tasks.back().model_version;
    u.client_id = id;
    u.num_examples = 100;
    u.delta = {1, 1, 1, 1};
    Send(peer, u);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  RecordingOutbox outbox_;
  Reports reports_;
  std::unique_ptr<Coordinator> coord_;
};

TEST_F(CheckInTest, DeviceArrivingMidRoundGetsTheModelAndComesBackAtTheDeadline) {
  Start(1);
  Hello("p", 1, /*check_in=*/false);  // round 1 starts with it
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  now_ += absl::Seconds(10);
  Hello("d", 2, /*check_in=*/true);
  EXPECT_TRUE(outbox_.To<protocol::Task>("d").empty());
  const auto models = outbox_.To<protocol::GlobalModel>("d");
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].model_version, 0u);
  EXPECT_EQ(models[0].model.weights, std::vector<float>({1, 1, 1, 1}));
  EXPECT_EQ(models[0].model.architecture, "mlp");  // not cached by the device
  const auto retry = outbox_.To<protocol::RetryLater>("d");
  ASSERT_EQ(retry.size(), 1u);
  // No round has completed yet: the open round's deadline, 50 s away.
  EXPECT_EQ(retry[0].after_ms, 50'000u);
  EXPECT_EQ(retry[0].window_ms, 20'000u);
  EXPECT_THAT(retry[0].reason, ::testing::HasSubstr("round 1 is in progress"));
  EXPECT_EQ(coord_->stats().retry_hints_sent, 1u);
  EXPECT_EQ(coord_->stats().models_sent, 1u);
}

TEST_F(CheckInTest, DeviceHoldingTheCurrentModelIsNotSentItAgain) {
  Start(1);
  Hello("p", 1, false);
  Hello("d", 2, true, /*held=*/0);
  EXPECT_TRUE(outbox_.To<protocol::GlobalModel>("d").empty());
  EXPECT_EQ(outbox_.To<protocol::RetryLater>("d").size(), 1u);
}

TEST_F(CheckInTest, AdviceFollowsTheMeanRoundDurationOnceRoundsComplete) {
  Start(1);
  Hello("p", 1, false);
  now_ += absl::Seconds(4);
  UpdateFrom("p", 1);  // round 1 took 4 s; round 2 starts now
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  now_ += absl::Seconds(1);
  Hello("d", 2, true, /*held=*/1);
  const auto retry = outbox_.To<protocol::RetryLater>("d");
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].after_ms, 3'000u);  // expected end: start + 4 s
  EXPECT_TRUE(outbox_.To<protocol::GlobalModel>("d").empty());
}

TEST_F(CheckInTest, UnselectedDeviceIsToldToRetryAndSelectedOneIsNot) {
  Start(2, /*clients_per_round=*/1);
  Hello("d1", 1, true);
  Hello("d2", 2, true);  // round 1 starts with one of the two
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  const bool first = !outbox_.To<protocol::Task>("d1").empty();
  const std::string selected = first ? "d1" : "d2";
  const std::string other = first ? "d2" : "d1";
  EXPECT_EQ(outbox_.To<protocol::Task>(selected).size(), 1u);
  EXPECT_TRUE(outbox_.To<protocol::RetryLater>(selected).empty());
  EXPECT_TRUE(outbox_.To<protocol::Task>(other).empty());
  const auto retry = outbox_.To<protocol::RetryLater>(other);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_THAT(retry[0].reason, ::testing::HasSubstr("not selected for round 1"));
  EXPECT_EQ(outbox_.To<protocol::GlobalModel>(other).size(), 1u);
}

TEST_F(CheckInTest, DeviceIsReleasedWhenItsUpdateArrivesAndNotSelectedAgain) {
  Start(1);
  Hello("d", 1, true);
  ASSERT_EQ(outbox_.To<protocol::Task>("d").size(), 1u);
  UpdateFrom("d", 1);
  EXPECT_EQ(coord_->completed_rounds(), 1u);
  const auto retry = outbox_.To<protocol::RetryLater>("d");
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_THAT(retry[0].reason, ::testing::HasSubstr("update for round 1 received"));
  // Its update closed round 1 and nobody else is waiting: come back any time
  // within the window.
  EXPECT_EQ(retry[0].after_ms, 0u);
  EXPECT_EQ(retry[0].window_ms, 20'000u);
  // Its one task is done: round 2 waits for other clients instead of
  // selecting it again on this connection.
  EXPECT_EQ(outbox_.To<protocol::Task>("d").size(), 1u);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kWaitingForClients);
  // A new check-in (a new Hello) makes it selectable again.
  Hello("d", 1, true, /*held=*/1);
  EXPECT_EQ(outbox_.To<protocol::Task>("d").size(), 2u);
  EXPECT_EQ(outbox_.To<protocol::Task>("d")[1].model_version, 1u);
}

TEST_F(CheckInTest, UpdateBeforeTheRoundClosesIsAdvisedTheRoundsEnd) {
  Start(2);
  Hello("p", 1, false);
  Hello("d", 2, true);
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  now_ += absl::Seconds(5);
  UpdateFrom("d", 2);
  EXPECT_EQ(coord_->completed_rounds(), 0u);  // p has not reported
  const auto retry = outbox_.To<protocol::RetryLater>("d");
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].after_ms, 55'000u);  // no history: the deadline
}

TEST_F(CheckInTest, DevicesTakeTheFinalModelWhenTheFederationEnds) {
  Start(1);
  for (uint64_t round = 1; round <= 5; ++round) {
    Hello("d", 1, true, round == 1 ? std::nullopt : std::optional<uint64_t>(round - 1));
    UpdateFrom("d", 1);
  }
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kFinished);
  // The last update finished the run: the model it made (version 5) goes
  // out with the Shutdown, and no advice to come back.
  const auto models = outbox_.To<protocol::GlobalModel>("d");
  ASSERT_FALSE(models.empty());
  EXPECT_EQ(models.back().model_version, 5u);
  EXPECT_EQ(outbox_.To<protocol::Shutdown>("d").size(), 1u);
  EXPECT_EQ(outbox_.To<protocol::RetryLater>("d").size(), 4u);
  // A device checking in afterwards with an older model gets it too.
  Hello("late", 2, true, /*held=*/3);
  ASSERT_EQ(outbox_.To<protocol::GlobalModel>("late").size(), 1u);
  EXPECT_EQ(outbox_.To<protocol::GlobalModel>("late")[0].model_version, 5u);
  EXPECT_EQ(outbox_.To<protocol::Shutdown>("late").size(), 1u);
  Hello("current", 3, true, /*held=*/5);
  EXPECT_TRUE(outbox_.To<protocol::GlobalModel>("current").empty());
}

TEST_F(CheckInTest, LeaveDropsTheClientFromTheRoundAtOnce) {
  Start(2);
  Hello("a", 1, false);
  Hello("b", 2, false);
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  UpdateFrom("a", 1);
  EXPECT_EQ(coord_->completed_rounds(), 0u);  // waiting for b
  Send("b", protocol::Leave{2, "battery low"});
  // No heartbeat timeout needed: the round closes with a's update.
  EXPECT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_EQ(coord_->registered_clients(), 1u);
  EXPECT_EQ(coord_->stats().clients_left, 1u);
  ASSERT_EQ(reports_.reports.size(), 1u);
  EXPECT_EQ(reports_.reports[0].dropped, 1u);
  // Whatever b sends now, it is not registered.
  protocol::Heartbeat hb;
  hb.client_id = 2;
  Send("b", hb);
  EXPECT_EQ(outbox_.Count("b", protocol::ErrorCode::kNotRegistered), 1u);
}

TEST_F(CheckInTest, LeaveFromAnUnknownPeerIsIgnored) {
  Start(2);
  Send("x", protocol::Leave{9, "?"});
  EXPECT_TRUE(outbox_.sent["x"].empty());
  EXPECT_EQ(coord_->stats().clients_left, 0u);
  EXPECT_EQ(coord_->stats().rejected_total, 0u);
}

TEST_F(CheckInTest, CoordinatorOnlyMessagesFromClientsAreRefused) {
  Start(2);
  Send("x", protocol::RetryLater{1, 2, "?"});
  protocol::GlobalModel g;
  g.model.manifest.tensors = {{"w", {1}, protocol::DType::kFloat32}};
  g.model.weights = {0};
  Send("x", g);
  EXPECT_EQ(outbox_.Count("x", protocol::ErrorCode::kUnknownKind), 2u);
}

TEST(RetryAdvisorTest, EstimatesTheEndOfTheOpenRound) {
  RetryAdvisor advisor(absl::Seconds(30));
  const absl::Time t0 = absl::FromUnixSeconds(100);
  const RetryAdvisor::OpenRound open{t0, t0 + absl::Seconds(60)};
  // No history: the deadline.
  EXPECT_EQ(advisor.Advise(t0 + absl::Seconds(10), open, "r").after_ms, 50'000u);
  advisor.OnRoundCompleted(absl::Seconds(10));
  EXPECT_EQ(advisor.mean_round(), absl::Seconds(10));
  EXPECT_EQ(advisor.Advise(t0 + absl::Seconds(4), open, "r").after_ms, 6'000u);
  // Moving average: 0.7 * 10 s + 0.3 * 20 s = 13 s.
  advisor.OnRoundCompleted(absl::Seconds(20));
  EXPECT_EQ(advisor.mean_round(), absl::Seconds(13));
  // Running late: it ends by its deadline, so no later than that.
  EXPECT_EQ(advisor.Advise(t0 + absl::Seconds(50), open, "r").after_ms, 10'000u);
  EXPECT_EQ(advisor.Advise(t0 + absl::Seconds(15), open, "r").after_ms, 30'000u);
  // No round open: come back within the window.
  const protocol::RetryLater idle = advisor.Advise(t0, std::nullopt, "idle");
  EXPECT_EQ(idle.after_ms, 0u);
  EXPECT_EQ(idle.window_ms, 30'000u);
  EXPECT_EQ(idle.reason, "idle");
}

}  // namespace
}  // namespace fedge::coordinator
