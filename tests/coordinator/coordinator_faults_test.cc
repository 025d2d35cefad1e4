// The coordinator under faults, sans I/O: over-selection, per-client frame
// rate limits, checkpoints (the CheckpointSink contract) and resuming from a
// snapshot.

#include <cmath>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/coordinator.h"
#include "coordinator/fault_injection.h"
#include "tests/coordinator/fakes.h"
#include "coordinator/frame_rate_limiter.h"
#include "protocol/envelope.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using protocol::ErrorCode;

// Keeps every snapshot; optionally fails; records what had been published
// when it was called.
class RecordingSink : public CheckpointSink {
 public:
  RecordingSink(const RecordingOutbox* outbox, const Reports* reports)
      : outbox_(outbox), reports_(reports) {}
  absl::Status Save(const CoordinatorSnapshot& s, const RoundReport& r,
                    absl::Span<const RoundReport>) override {
    if (!fail.ok()) return fail;
    snapshots.push_back(s);
    reports_seen.push_back(reports_->reports.size());
    size_t tasks = 0;
    for (const auto& [peer, msgs] : outbox_->sent) tasks += outbox_->To<protocol::Task>(peer).size();
    tasks_seen.push_back(tasks);
    EXPECT_EQ(r.round, s.round);
    return absl::OkStatus();
  }
  absl::Status fail;
  std::vector<CoordinatorSnapshot> snapshots;
  std::vector<size_t> reports_seen, tasks_seen;

 private:
  const RecordingOutbox* outbox_;
  const Reports* reports_;
};

CoordinatorConfig Config(uint32_t clients) {
  CoordinatorConfig cfg;
  cfg.rounds = 2;
  cfg.min_clients = clients;
  cfg.quorum = 1;
  cfg.round_timeout = absl::Seconds(30);
  cfg.missed_heartbeats = 100;  // nobody goes silent while the tests move time
  cfg.training.batch_size = 8;
  return cfg;
}

class FaultsTest : public ::testing::Test {
 protected:
  void Start(CoordinatorConfig cfg) {
    auto c = Coordinator::Create(cfg, TinyModel(), &outbox_, nullptr, &reports_, now_);
    ASSERT_THAT(c, IsOk());
    coord_ = *std::move(c);
  }
  void Send(const std::string& peer, const protocol::Message& m) {
    coord_->OnFrame(peer, protocol::Encode(m), now_);
  }
  void Hello(const std::string& peer, uint64_t id) {
    protocol::Hello h;
    h.client_id = id;
    h.num_examples = 100;
    Send(peer, h);
  }
  protocol::Update UpdateFor(uint64_t id, uint64_t round, std::vector<float> delta) {
    protocol::Update u;
    u.round = round;
    u.model_version = coord_->model_version();
    u.client_id = id;
    u.num_examples = 100;
    u.delta = std::move(delta);
    return u;
  }
  void Heartbeat(const std::string& peer, uint64_t id) {
    protocol::Heartbeat h;
    h.client_id = id;
    Send(peer, h);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  RecordingOutbox outbox_;
  Reports reports_;
  std::unique_ptr<Coordinator> coord_;
};

// ---- Over-selection -----------------------------------------------------------

TEST_F(FaultsTest, OverSelectedRoundClosesAtTheTargetAndRefusesLateUpdates) {
  CoordinatorConfig cfg = Config(3);
  cfg.clients_per_round = 2;
  cfg.over_select = 0.5;  // 2 needed, 3 selected
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Hello("c", 3);
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  for (const char* p : {"a", "b", "c"}) ASSERT_EQ(outbox_.To<protocol::Task>(p).size(), 1u) << p;
  Send("b", UpdateFor(2, 1, {1, 1, 1, 1}));
  EXPECT_EQ(coord_->completed_rounds(), 0u);
  Send("c", UpdateFor(3, 1, {3, 3, 3, 3}));
  ASSERT_EQ(coord_->completed_rounds(), 1u);  // closed without waiting for "a"
  EXPECT_THAT(coord_->weights(), ::testing::Each(::testing::FloatEq(3)));
  ASSERT_EQ(reports_.reports.size(), 1u);
  EXPECT_EQ(reports_.reports[0].selected, 3u);
  EXPECT_EQ(reports_.reports[0].aggregated, 2u);
  // The straggler's update for round 1 arrives late: refused and counted.
  Send("a", UpdateFor(1, 1, {9, 9, 9, 9}));
  EXPECT_EQ(outbox_.Count("a", ErrorCode::kWrongRound), 1u);
  EXPECT_EQ(coord_->stats().rejected_by_code.at(ErrorCode::kWrongRound), 1u);
  EXPECT_THAT(coord_->weights(), ::testing::Each(::testing::FloatEq(3)));
}

// fedge-coordinator --inject_fault=kill_after_updates:2:1 dies at the first
// update round 2 accepts: not in round 1, not on a refused update.
TEST_F(FaultsTest, MidRoundFaultPointIsTheNthAcceptedUpdateOfThatRound) {
  absl::StatusOr<CoordinatorFaultPlan> plan = ParseCoordinatorFaultPlan("kill_after_updates:2:1");
  ASSERT_THAT(plan, IsOk());
  Start(Config(3));
  Hello("a", 1);
  Hello("b", 2);
  Hello("c", 3);
  ASSERT_EQ(coord_->round(), 1u);
  Send("a", UpdateFor(1, 1, {1, 1, 1, 1}));
  EXPECT_EQ(coord_->inputs_accepted(), 1u);
  EXPECT_FALSE(ReachedMidRoundFault(*plan, *coord_));  // round 1
  Send("b", UpdateFor(2, 1, {1, 1, 1, 1}));
  Send("c", UpdateFor(3, 1, {1, 1, 1, 1}));
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  ASSERT_EQ(coord_->round(), 2u);
  EXPECT_FALSE(ReachedMidRoundFault(*plan, *coord_));
  Send("b", UpdateFor(2, 2, {1, 1}));  // wrong length: refused
  EXPECT_EQ(outbox_.Count("b", ErrorCode::kWrongLength), 1u);
  EXPECT_FALSE(ReachedMidRoundFault(*plan, *coord_));
  Send("b", UpdateFor(2, 2, {1, 1, 1, 1}));
  EXPECT_TRUE(ReachedMidRoundFault(*plan, *coord_));
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);  // still open
}

TEST_F(FaultsTest, OverSelectionNeverSelectsMoreThanTheLiveClients) {
  CoordinatorConfig cfg = Config(2);
  cfg.fraction = 1.0;
  cfg.over_select = 1.0;
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Send("a", UpdateFor(1, 1, {0, 0, 0, 0}));
  EXPECT_EQ(coord_->completed_rounds(), 0u);  // the target is both live clients
  Send("b", UpdateFor(2, 1, {0, 0, 0, 0}));
  EXPECT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_EQ(reports_.reports[0].selected, 2u);
}

TEST(FaultsCreateTest, OverSelectionIsForPlainFedAvgOnly) {
  RecordingOutbox outbox;
  CoordinatorConfig cfg = Config(3);
  cfg.over_select = 0.3;
  cfg.secure.enabled = true;
  EXPECT_THAT(Coordinator::Create(cfg, TinyModel(), &outbox, nullptr, nullptr, absl::Now()),
              StatusIs(absl::StatusCode::kInvalidArgument, "threshold"));
  cfg.secure.enabled = false;
  cfg.over_select = -0.1;
  EXPECT_THAT(Coordinator::Create(cfg, TinyModel(), &outbox, nullptr, nullptr, absl::Now()),
              StatusIs(absl::StatusCode::kInvalidArgument, "over_select"));
}

// ---- Rate limiting ------------------------------------------------------------

TEST(FrameRateLimiterTest, BurstThenSustainedRateAndPruning) {
  FrameRateLimiter limiter({/*frames_per_second=*/10, /*burst=*/5});
  const absl::Time t0 = absl::FromUnixSeconds(0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Allow("p", t0)) << i;
  EXPECT_FALSE(limiter.Allow("p", t0));
  EXPECT_TRUE(limiter.Allow("q", t0));  // buckets are independent
  EXPECT_FALSE(limiter.Allow("p", t0 + absl::Milliseconds(50)));
  EXPECT_TRUE(limiter.Allow("p", t0 + absl::Milliseconds(110)));  // one token refilled
  limiter.PruneFull(t0 + absl::Milliseconds(200));
  EXPECT_EQ(limiter.buckets(), 1u);  // "q" refilled to its burst; "p" not yet
  limiter.PruneFull(t0 + absl::Seconds(1));
  EXPECT_EQ(limiter.buckets(), 0u);
  FrameRateLimiter off({0, 1});
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(off.Allow("p", t0));
}

TEST_F(FaultsTest, FloodingClientIsRateLimitedWithoutStarvingTheOthers) {
  CoordinatorConfig cfg = Config(3);
  cfg.quorum = 2;
  cfg.client_frame_limit = {/*frames_per_second=*/10, /*burst=*/20};
  cfg.unregistered_frame_limit = {/*frames_per_second=*/10, /*burst=*/20};
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Hello("flood", 3);
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  // 1000 frames at one instant from one registered client ...
  for (int i = 0; i < 1000; ++i) Heartbeat("flood", 3);
  EXPECT_EQ(outbox_.To<protocol::Heartbeat>("flood").size(), 20u);  // its burst
  EXPECT_EQ(outbox_.Count("flood", ErrorCode::kRateLimited), 980u);
  // ... and from 1000 unregistered peers sending garbage.
  for (int i = 0; i < 1000; ++i) coord_->OnFrame("stranger" + std::to_string(i), "junk", now_);
  EXPECT_EQ(coord_->stats().rejected_by_code.at(ErrorCode::kMalformed), 17u);  // 20 - 3 Hellos
  EXPECT_EQ(coord_->stats().rejected_by_code.at(ErrorCode::kRateLimited), 980u + 983u);
  // The honest clients are untouched: their updates close the round.
  Send("a", UpdateFor(1, 1, {2, 2, 2, 2}));
  Send("b", UpdateFor(2, 1, {2, 2, 2, 2}));
  EXPECT_TRUE(outbox_.To<protocol::ErrorReply>("a").empty());
  EXPECT_TRUE(outbox_.To<protocol::ErrorReply>("b").empty());
  now_ += absl::Seconds(31);  // the flooder never reports; the deadline closes the round
  coord_->OnTick(now_);
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_THAT(coord_->weights(), ::testing::Each(::testing::FloatEq(3)));
  // Later the flooder's bucket has refilled: it is heard again.
  Heartbeat("flood", 3);
  EXPECT_EQ(outbox_.To<protocol::Heartbeat>("flood").size(), 21u);
}

// ---- Checkpoints and resume ---------------------------------------------------

TEST_F(FaultsTest, EveryRoundIsCheckpointedBeforeItIsReportedOrItsModelSent) {
  RecordingSink sink(&outbox_, &reports_);
  CoordinatorConfig cfg = Config(1);
  cfg.rounds = 3;
  cfg.checkpoint_sink = &sink;
  Start(cfg);
  Hello("a", 1);
  Send("a", UpdateFor(1, 1, {1, 1, 1, 1}));
  now_ += absl::Seconds(31);
  coord_->OnTick(now_);  // round 2 fails: no update
  Send("a", UpdateFor(1, 3, {1, 1, 1, 1}));
  ASSERT_EQ(coord_->completed_rounds(), 2u);
  ASSERT_EQ(sink.snapshots.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sink.snapshots[i].round, i + 1);
    EXPECT_EQ(sink.reports_seen[i], i) << "round " << i + 1 << " reported before its checkpoint";
    EXPECT_EQ(sink.tasks_seen[i], i + 1) << "a task went out before round " << i + 1
                                         << "'s checkpoint";
  }
  EXPECT_EQ(sink.snapshots[0].model_version, 1u);
  EXPECT_EQ(sink.snapshots[1].model_version, 1u);
  EXPECT_EQ(sink.snapshots[1].consecutive_failures, 1u);
  EXPECT_EQ(sink.snapshots[2].model_version, 2u);
  EXPECT_EQ(sink.snapshots[2].completed_rounds, 2u);
  EXPECT_EQ(sink.snapshots[2].consecutive_failures, 0u);
  EXPECT_THAT(sink.snapshots[2].model.weights, ::testing::Each(::testing::FloatEq(3)));
  EXPECT_EQ(sink.snapshots[2].clients, (std::vector<KnownClient>{{1, 100}}));
}

TEST_F(FaultsTest, AFailedCheckpointHaltsWithoutPublishingOrShuttingClientsDown) {
  RecordingSink sink(&outbox_, &reports_);
  sink.fail = absl::ResourceExhaustedError("disk full");
  CoordinatorConfig cfg = Config(1);
  cfg.checkpoint_sink = &sink;
  Start(cfg);
  Hello("a", 1);
  Send("a", UpdateFor(1, 1, {1, 1, 1, 1}));
  EXPECT_TRUE(coord_->done());
  EXPECT_TRUE(coord_->halted());
  EXPECT_THAT(coord_->finish_reason(), ::testing::HasSubstr("disk full"));
  EXPECT_EQ(outbox_.To<protocol::Task>("a").size(), 1u);  // version 1 never sent
  EXPECT_TRUE(outbox_.To<protocol::Shutdown>("a").empty());
  EXPECT_TRUE(reports_.reports.empty());
  Hello("b", 2);
  EXPECT_TRUE(outbox_.To<protocol::Shutdown>("b").empty());
}

TEST_F(FaultsTest, ResumedCoordinatorContinuesTheModelVersionAndRoundCount) {
  RecordingSink sink(&outbox_, &reports_);
  CoordinatorConfig cfg = Config(1);
  cfg.rounds = 3;
  cfg.checkpoint_sink = &sink;
  Start(cfg);
  Hello("a", 1);
  Send("a", UpdateFor(1, 1, {1, 1, 1, 1}));
  ASSERT_EQ(sink.snapshots.size(), 1u);
  // "Crash" after round 1's checkpoint; a new coordinator resumes from it.
  RecordingOutbox outbox2;
  Reports reports2;
  RecordingSink sink2(&outbox2, &reports2);
  cfg.checkpoint_sink = &sink2;
  auto c = Coordinator::Create(cfg, TinyModel(), &outbox2, nullptr, &reports2, now_);
  ASSERT_THAT(c, IsOk());
  ASSERT_THAT((*c)->Restore(sink.snapshots[0]), IsOk());
  EXPECT_EQ((*c)->model_version(), 1u);
  EXPECT_EQ((*c)->completed_rounds(), 1u);
  protocol::Hello h;
  h.client_id = 1;
  h.num_examples = 100;
  (*c)->OnFrame("a2", protocol::Encode(h), now_);
  auto welcome = outbox2.To<protocol::Welcome>("a2");
  ASSERT_EQ(welcome.size(), 1u);
  EXPECT_EQ(welcome[0].model_version, 1u);
  auto tasks = outbox2.To<protocol::Task>("a2");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].round, 2u);
  EXPECT_EQ(tasks[0].model_version, 1u);
  EXPECT_EQ(tasks[0].model.weights, sink.snapshots[0].model.weights);
  for (uint64_t round : {2u, 3u}) {
    protocol::Update u;
    u.round = round;
    u.model_version = (*c)->model_version();
    u.client_id = 1;
    u.num_examples = 100;
    u.delta = {1, 1, 1, 1};
    (*c)->OnFrame("a2", protocol::Encode(u), now_);
  }
  EXPECT_TRUE((*c)->done());
  EXPECT_FALSE((*c)->halted());
  EXPECT_EQ((*c)->completed_rounds(), 3u);  // exactly the configured rounds
  EXPECT_EQ((*c)->model_version(), 3u);
  ASSERT_EQ(reports2.reports.size(), 2u);
  EXPECT_EQ(reports2.reports[0].round, 2u);
  EXPECT_EQ(reports2.reports[1].round, 3u);
}

TEST_F(FaultsTest, RestoreChecksTheSnapshotAndWhenItIsCalled) {
  RecordingSink sink(&outbox_, &reports_);
  CoordinatorConfig cfg = Config(1);
  cfg.rounds = 1;
  cfg.checkpoint_sink = &sink;
  Start(cfg);
  Hello("a", 1);
  Send("a", UpdateFor(1, 1, {1, 1, 1, 1}));
  ASSERT_EQ(sink.snapshots.size(), 1u);
  const CoordinatorSnapshot done = sink.snapshots[0];
  EXPECT_THAT(coord_->Restore(done), StatusIs(absl::StatusCode::kFailedPrecondition));

  auto fresh = [&] {
    auto c = Coordinator::Create(cfg, TinyModel(), &outbox_, nullptr, nullptr, now_);
    EXPECT_THAT(c, IsOk());
    return *std::move(c);
  };
  // A snapshot that already completed every round finishes at once.
  auto c = fresh();
  ASSERT_THAT(c->Restore(done), IsOk());
  EXPECT_TRUE(c->done());
  CoordinatorSnapshot other = done;
  other.model.architecture_id = "builtin:cnn";
  EXPECT_THAT(fresh()->Restore(other), StatusIs(absl::StatusCode::kInvalidArgument, "builtin:cnn"));
  other = done;
  other.model.weights[2] = std::nanf("");
  EXPECT_THAT(fresh()->Restore(other), StatusIs(absl::StatusCode::kInvalidArgument, "NaN"));
  other = done;
  other.optimizer.kind = 7;
  EXPECT_THAT(fresh()->Restore(other), StatusIs(absl::StatusCode::kInvalidArgument, "kind 7"));
  other = done;
  other.cohort_rng = "not a generator";
  EXPECT_THAT(fresh()->Restore(other), StatusIs(absl::StatusCode::kInvalidArgument, "generator"));
}

}  // namespace
}  // namespace fedge::coordinator
