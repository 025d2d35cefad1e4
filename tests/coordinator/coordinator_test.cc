#include "coordinator/coordinator.h"
#include "tests/coordinator/fakes.h"

#include <cmath>
#include <limits>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/base/internal/endian.h"
#include "protocol/envelope.h"
#include "protocol/peer_address.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using protocol::ErrorCode;

class CoordinatorTest : public ::testing::Test {
 protected:
  void Start(CoordinatorConfig cfg, Evaluator* evaluator = nullptr) {
    cfg.training.batch_size = 8;
    auto c = Coordinator::Create(cfg, TinyModel(), &outbox_, evaluator, &reports_, now_);
    ASSERT_THAT(c, IsOk());
    coord_ = *std::move(c);
  }
  static CoordinatorConfig Config(uint32_t clients) {
    CoordinatorConfig cfg;
    cfg.rounds = 2;
    cfg.min_clients = clients;
    cfg.quorum = clients;
    cfg.round_timeout = absl::Seconds(30);
    cfg.heartbeat_interval = absl::Seconds(1);
    cfg.missed_heartbeats = 5;
    return cfg;
  }
  void Send(const std::string& peer, const protocol::Message& m) {
    coord_->OnFrame(peer, protocol::Encode(m), now_);
  }
  void Hello(const std::string& peer, uint64_t id, uint64_t examples = 100) {
    protocol::Hello h;
    h.client_id = id;
    h.num_examples = examples;
    Send(peer, h);
  }
  protocol::Update UpdateFor(uint64_t id, std::vector<float> delta, uint64_t examples = 100) {
    protocol::Update u;
    u.round = coord_->phase() == Coordinator::Phase::kTraining ? current_round() : 0;
    u.model_version = coord_->model_version();
    u.client_id = id;
    u.num_examples = examples;
    u.delta = std::move(delta);
    return u;
  }
  uint64_t current_round() const { return coord_->completed_rounds() + coord_->stats().rounds_failed + 1; }
  std::vector<ErrorCode> ErrorsTo(const std::string& peer) const {
    std::vector<ErrorCode> codes;
    for (const auto& e : outbox_.To<protocol::ErrorReply>(peer)) codes.push_back(e.code);
    return codes;
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  RecordingOutbox outbox_;
  Reports reports_;
  std::unique_ptr<Coordinator> coord_;
};

TEST_F(CoordinatorTest, RoundStartsWhenEnoughClientsRegister) {
  Start(Config(2));
  Hello("a", 1);
  EXPECT_EQ(outbox_.To<protocol::Welcome>("a").size(), 1u);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kWaitingForClients);
  EXPECT_TRUE(outbox_.To<protocol::Task>("a").empty());
  Hello("b", 2);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  auto tasks = outbox_.To<protocol::Task>("a");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].round, 1u);
  EXPECT_EQ(tasks[0].model.weights, TinyModel().weights);
  EXPECT_EQ(tasks[0].model.architecture, "mlp");  // not cached yet: sent
}

TEST_F(CoordinatorTest, FedAvgOfUpdatesIsApplied) {
  Start(Config(2));
  Hello("a", 1);
  Hello("b", 2);
  Send("a", UpdateFor(1, {1, 0, 0, 4}, 100));
  EXPECT_EQ(coord_->completed_rounds(), 0u);
  Send("b", UpdateFor(2, {3, 0, 2, 0}, 300));
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  // global + (100*u1 + 300*u2) / 400
  EXPECT_THAT(coord_->weights(), ::testing::Pointwise(::testing::FloatNear(1e-6),
                                                      std::vector<float>{3.5f, 1, 2.5f, 2}));
  EXPECT_EQ(coord_->model_version(), 1u);
  ASSERT_EQ(reports_.reports.size(), 1u);
  EXPECT_TRUE(reports_.reports[0].completed);
  EXPECT_EQ(reports_.reports[0].aggregated, 2u);
  EXPECT_GT(reports_.reports[0].bytes_up, 0u);
  EXPECT_GT(reports_.reports[0].bytes_down, 0u);
  // Round 2 started at once, without resending the architecture.
  auto tasks = outbox_.To<protocol::Task>("a");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[1].round, 2u);
  EXPECT_EQ(tasks[1].model_version, 1u);
  EXPECT_TRUE(tasks[1].model.architecture.empty());
}

// Clients on channels of one connection get the round's model once; the
// rest of that connection's tasks name it by reference. Connections of their
// own, and other shared connections, each get the model.
TEST_F(CoordinatorTest, ARoundsModelGoesOncePerSharedConnection) {
  Start(Config(4));
  const std::vector<std::string> peers = {
      protocol::EncodePeer("host-x", "1"), protocol::EncodePeer("host-x", "2"),
      protocol::EncodePeer("host-y", "3"), protocol::EncodePeer("device-4", "")};
  for (size_t i = 0; i < peers.size(); ++i) Hello(peers[i], i + 1);
  for (uint64_t round = 1; round <= 2; ++round) {
    int full_on_x = 0, by_reference_on_x = 0;
    for (size_t i = 0; i < peers.size(); ++i) {
      auto tasks = outbox_.To<protocol::Task>(peers[i]);
      ASSERT_EQ(tasks.size(), round) << i;
      const protocol::Task& t = tasks.back();
      EXPECT_EQ(t.round, round);
      if (i < 2) {
        (t.model_by_reference ? by_reference_on_x : full_on_x) += 1;
        if (t.model_by_reference) {
          EXPECT_TRUE(t.model.weights.empty());
        }
      } else {
        EXPECT_FALSE(t.model_by_reference) << i;
        EXPECT_EQ(t.model.weights, coord_->weights()) << i;
      }
    }
    EXPECT_EQ(full_on_x, 1);
    EXPECT_EQ(by_reference_on_x, 1);
    if (round == 1) {
      for (size_t i = 0; i < peers.size(); ++i) Send(peers[i], UpdateFor(i + 1, {1, 0, 0, 0}));
      ASSERT_EQ(coord_->completed_rounds(), 1u);
    }
  }
}


// The server-side evaluation runs while the coordinator keeps serving: a
// heartbeat is answered meanwhile, the next round waits for the result, and
// the round's report carries it.
TEST_F(CoordinatorTest, ServerEvaluationDoesNotBlockServingAndGatesTheNextRound) {
  RecordingEvaluator evaluator;
  Start(Config(1), &evaluator);
  Hello("a", 1);
  Send("a", UpdateFor(1, {1, 0, 0, 0}));
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kServerEvaluating);
  ASSERT_EQ(evaluator.started.size(), 1u);
  EXPECT_EQ(evaluator.started[0].first, 1u);
  EXPECT_EQ(evaluator.started[0].second, (std::vector<float>{2, 1, 1, 1}));  // the new model
  EXPECT_TRUE(reports_.reports.empty());
  EXPECT_EQ(outbox_.To<protocol::Task>("a").size(), 1u);  // round 2 not started

  protocol::Heartbeat ping;
  ping.client_id = 1;
  ping.round = 1;
  Send("a", ping);
  EXPECT_EQ(outbox_.To<protocol::Heartbeat>("a").size(), 1u);
  now_ += absl::Seconds(10);  // longer than the clients' liveness window
  Send("a", ping);
  coord_->OnTick(now_);
  EXPECT_EQ(outbox_.To<protocol::Heartbeat>("a").size(), 2u);
  EXPECT_EQ(coord_->registered_clients(), 1u);

  EvalMetrics m;
  m.loss = 0.5;
  m.has_accuracy = true;
  m.accuracy = 0.75;
  m.examples = 10;
  coord_->OnServerEvaluation(7, m, now_);  // not the round being evaluated
  EXPECT_TRUE(reports_.reports.empty());
  coord_->OnServerEvaluation(1, m, now_);
  ASSERT_EQ(reports_.reports.size(), 1u);
  EXPECT_TRUE(reports_.reports[0].completed);
  EXPECT_TRUE(reports_.reports[0].evaluated);
  EXPECT_EQ(reports_.reports[0].eval.accuracy, 0.75);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  ASSERT_EQ(outbox_.To<protocol::Task>("a").size(), 2u);

  // A failed evaluation: the round still completes, without metrics.
  Send("a", UpdateFor(1, {1, 0, 0, 0}));
  ASSERT_EQ(evaluator.started.size(), 2u);
  coord_->OnServerEvaluation(2, absl::InternalError("out of memory"), now_);
  ASSERT_EQ(reports_.reports.size(), 2u);
  EXPECT_TRUE(reports_.reports[1].completed);
  EXPECT_FALSE(reports_.reports[1].evaluated);
  EXPECT_TRUE(coord_->done());
  coord_->OnServerEvaluation(2, m, now_);  // too late: ignored
  EXPECT_EQ(reports_.reports.size(), 2u);
}

TEST_F(CoordinatorTest, FinishesAfterTheConfiguredRoundsAndShutsClientsDown) {
  Start(Config(1));
  Hello("a", 1);
  Send("a", UpdateFor(1, {0, 0, 0, 0}));
  Send("a", UpdateFor(1, {0, 0, 0, 0}));
  EXPECT_TRUE(coord_->done());
  EXPECT_EQ(coord_->completed_rounds(), 2u);
  EXPECT_EQ(outbox_.To<protocol::Shutdown>("a").size(), 1u);
}

// Each bad input: a specific error, counted, the aggregate untouched, and the
// round still completes with the honest updates.
TEST_F(CoordinatorTest, BadInputIsRefusedCountedAndDoesNotTouchTheAggregate) {
  Start(Config(2));
  Hello("a", 1);
  Hello("b", 2);
  const std::vector<float> good = {2, 2, 2, 2};

  // Malformed frame.
  coord_->OnFrame("a", "garbage", now_);
  // Unknown message kind.
  std::string unknown = protocol::Encode(protocol::Shutdown{"x"});
  absl::little_endian::Store16(unknown.data() + 6, 77);
  coord_->OnFrame("a", unknown, now_);
  // Wrong protocol version.
  std::string version = protocol::Encode(UpdateFor(1, good));
  absl::little_endian::Store16(version.data() + 4, protocol::kProtocolVersion + 1);
  coord_->OnFrame("a", version, now_);
  // Wrong round, wrong model version, wrong length, NaN, wrong client id.
  protocol::Update wrong_round = UpdateFor(1, good);
  wrong_round.round = 99;
  Send("a", wrong_round);
  protocol::Update wrong_version = UpdateFor(1, good);
  wrong_version.model_version = 5;
  Send("a", wrong_version);
  Send("a", UpdateFor(1, {1, 2, 3}));
  Send("a", UpdateFor(2, good));  // claims to be b
  // From an unregistered client.
  Send("stranger", UpdateFor(9, good));
  // A Task from a client.
  protocol::Task task;
  task.model = TinyModel();
  Send("a", task);

  EXPECT_THAT(ErrorsTo("a"), ::testing::ElementsAre(
                                 ErrorCode::kMalformed, ErrorCode::kUnknownKind,
                                 ErrorCode::kVersionMismatch, ErrorCode::kWrongRound,
                                 ErrorCode::kWrongModelVersion, ErrorCode::kWrongLength,
                                 ErrorCode::kNotRegistered, ErrorCode::kUnknownKind));
  EXPECT_THAT(ErrorsTo("stranger"), ::testing::ElementsAre(ErrorCode::kNotRegistered));
  EXPECT_EQ(coord_->stats().rejected_total, 9u);
  EXPECT_EQ(coord_->stats().rejected_by_code.at(ErrorCode::kUnknownKind), 2u);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);

  // Now the honest updates; the duplicate after it is refused.
  Send("a", UpdateFor(1, good));
  Send("a", UpdateFor(1, {100, 100, 100, 100}));
  EXPECT_EQ(ErrorsTo("a").back(), ErrorCode::kDuplicate);
  Send("b", UpdateFor(2, good));
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_THAT(coord_->weights(), ::testing::Each(::testing::FloatEq(3.0f)));
  EXPECT_EQ(reports_.reports[0].rejected, 10u);
}

TEST_F(CoordinatorTest, NonFiniteUpdateIsRefusedAndTheClientDropped) {
  CoordinatorConfig cfg = Config(3);
  cfg.quorum = 2;
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Hello("c", 3);
  Send("c", UpdateFor(3, {std::numeric_limits<float>::infinity(), 0, 0, 0}));
  EXPECT_THAT(ErrorsTo("c"), ::testing::ElementsAre(ErrorCode::kNonFinite));
  Send("a", UpdateFor(1, {1, 1, 1, 1}));
  Send("b", UpdateFor(2, {1, 1, 1, 1}));
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_THAT(coord_->weights(), ::testing::Each(::testing::FloatEq(2.0f)));
  EXPECT_EQ(reports_.reports[0].aggregated, 2u);
  EXPECT_EQ(reports_.reports[0].dropped, 1u);
}

TEST_F(CoordinatorTest, OversizedFrameIsRefusedAsTooLarge) {
  CoordinatorConfig cfg = Config(1);
  cfg.limits.max_frame_bytes = 256;
  Start(cfg);
  Hello("a", 1);
  Send("a", UpdateFor(1, std::vector<float>(100, 0.0f)));
  EXPECT_THAT(ErrorsTo("a"), ::testing::ElementsAre(ErrorCode::kTooLarge));
  EXPECT_EQ(coord_->completed_rounds(), 0u);
}

TEST_F(CoordinatorTest, UpdateFromOutsideTheCohortIsRefused) {
  CoordinatorConfig cfg = Config(1);
  cfg.clients_per_round = 1;
  Start(cfg);
  Hello("a", 1);  // round 1 starts with a alone
  Hello("b", 2);
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  Send("b", UpdateFor(2, {1, 1, 1, 1}));
  EXPECT_THAT(ErrorsTo("b"), ::testing::ElementsAre(ErrorCode::kNotInCohort));
}

TEST_F(CoordinatorTest, FractionSelectsPartOfTheLiveClients) {
  CoordinatorConfig cfg = Config(4);
  cfg.quorum = 1;
  cfg.fraction = 0.5;
  Start(cfg);
  for (int i = 0; i < 4; ++i) Hello(std::string(1, static_cast<char>('a' + i)), i);
  int tasked = 0;
  for (const char* p : {"a", "b", "c", "d"}) tasked += !outbox_.To<protocol::Task>(p).empty();
  EXPECT_EQ(tasked, 2);
}

TEST_F(CoordinatorTest, DeadlineClosesTheRoundWithAQuorum) {
  CoordinatorConfig cfg = Config(3);
  cfg.quorum = 2;
  cfg.missed_heartbeats = 100;  // c stays registered; only the deadline closes
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Hello("c", 3);
  Send("a", UpdateFor(1, {1, 1, 1, 1}));
  Send("b", UpdateFor(2, {1, 1, 1, 1}));
  for (const char* p : {"a", "b", "c"}) Send(p, protocol::Heartbeat{0, 0, protocol::ClientState::kIdle});
  now_ += absl::Seconds(29);
  coord_->OnTick(now_);
  EXPECT_EQ(coord_->completed_rounds(), 0u);
  now_ += absl::Seconds(2);
  for (const char* p : {"a", "b", "c"}) Send(p, protocol::Heartbeat{0, 0, protocol::ClientState::kIdle});
  coord_->OnTick(now_);
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_EQ(reports_.reports[0].aggregated, 2u);
  EXPECT_EQ(reports_.reports[0].dropped, 1u);
  // c's late update for round 1 is refused.
  Send("c", [&] { auto u = UpdateFor(3, {1, 1, 1, 1}); u.round = 1; u.model_version = 0; return u; }());
  EXPECT_EQ(ErrorsTo("c").back(), ErrorCode::kWrongRound);
}

TEST_F(CoordinatorTest, RoundWithoutQuorumFailsAndTheNextStartsWithTheSameModel) {
  CoordinatorConfig cfg = Config(2);
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Send("a", UpdateFor(1, {5, 5, 5, 5}));
  now_ += absl::Seconds(31);
  Send("a", protocol::Heartbeat{});
  Send("b", protocol::Heartbeat{});
  coord_->OnTick(now_);
  ASSERT_EQ(reports_.reports.size(), 1u);
  EXPECT_FALSE(reports_.reports[0].completed);
  EXPECT_THAT(reports_.reports[0].failure, ::testing::HasSubstr("deadline"));
  EXPECT_EQ(coord_->stats().rounds_failed, 1u);
  EXPECT_EQ(coord_->weights(), TinyModel().weights);
  auto tasks = outbox_.To<protocol::Task>("a");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[1].round, 2u);
  EXPECT_EQ(tasks[1].model_version, 0u);
}

TEST_F(CoordinatorTest, SilentClientIsDroppedAndTheRoundClosesWithoutIt) {
  CoordinatorConfig cfg = Config(2);
  cfg.quorum = 1;
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Send("a", UpdateFor(1, {1, 1, 1, 1}));
  // b never speaks again; a keeps heartbeating.
  for (int i = 0; i < 6; ++i) {
    now_ += absl::Seconds(1);
    Send("a", protocol::Heartbeat{1, 1, protocol::ClientState::kIdle});
    coord_->OnTick(now_);
  }
  EXPECT_EQ(coord_->registered_clients(), 1u);
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_EQ(reports_.reports[0].dropped, 1u);
}

TEST_F(CoordinatorTest, HeartbeatFromUnknownPeerAsksItToRegister) {
  Start(Config(1));
  Send("ghost", protocol::Heartbeat{4, 0, protocol::ClientState::kIdle});
  EXPECT_THAT(ErrorsTo("ghost"), ::testing::ElementsAre(ErrorCode::kNotRegistered));
}

TEST_F(CoordinatorTest, ClientLeavingTheRoundIsNotWaitedFor) {
  CoordinatorConfig cfg = Config(2);
  cfg.quorum = 1;
  Start(cfg);
  Hello("a", 1);
  Hello("b", 2);
  Send("a", UpdateFor(1, {1, 1, 1, 1}));
  Send("b", protocol::ErrorReply{ErrorCode::kInternal, 1, "battery low"});
  EXPECT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_TRUE(ErrorsTo("b").empty());  // errors are never answered with errors
}

// Under DP the cohort is Poisson-sampled, so it may exceed clients_per_round;
// every sampled client is waited for (closing at the first arrivals would let
// speed choose who is in the sum), each counts once whatever its example
// count, and the sum is divided by the expected cohort, not the count.
TEST_F(CoordinatorTest, DpRoundWaitsForEverySampledClientAndCountsEachOnce) {
  std::vector<std::string> cohort;
  for (uint64_t seed = 1; seed < 100; ++seed) {
    CoordinatorConfig cfg = Config(20);
    cfg.rounds = 1;
    cfg.quorum = 1;
    cfg.clients_per_round = 10;  // q = 10 / 20
    cfg.privacy.noise_seed = seed;  // the sampling's coins
    cfg.privacy.mode = protocol::PrivacyMode::kCentral;
    cfg.privacy.noise_multiplier = 1e-9;
    cfg.privacy.clip = 100;
    outbox_ = RecordingOutbox();
    Start(cfg);
    for (uint64_t id = 0; id < 20; ++id) Hello("p" + std::to_string(id), id, 10 + id);
    cohort.clear();
    for (uint64_t id = 0; id < 20; ++id) {
      if (!outbox_.To<protocol::Task>("p" + std::to_string(id)).empty()) {
        cohort.push_back("p" + std::to_string(id));
      }
    }
    if (cohort.size() > 10) break;  // a seed whose sample exceeds the target
  }
  ASSERT_GT(cohort.size(), 10u);
  const protocol::Task task = outbox_.To<protocol::Task>(cohort[0])[0];
  EXPECT_EQ(task.config.privacy.mode, protocol::PrivacyMode::kCentral);
  for (size_t i = 0; i + 1 < cohort.size(); ++i) {
    const uint64_t id = std::stoull(cohort[i].substr(1));
    Send(cohort[i], UpdateFor(id, {1, 0, 0, 0}, 10 + id));
    EXPECT_EQ(coord_->completed_rounds(), 0u) << "closed after " << i + 1 << " of " << cohort.size();
  }
  const uint64_t last = std::stoull(cohort.back().substr(1));
  Send(cohort.back(), UpdateFor(last, {1, 0, 0, 0}, 10 + last));
  ASSERT_EQ(coord_->completed_rounds(), 1u);
  ASSERT_EQ(reports_.reports.back().aggregated, cohort.size());
  // Each update counts once; the sum is over the expected cohort of 10.
  EXPECT_NEAR(coord_->weights()[0], 1.0 + static_cast<double>(cohort.size()) / 10.0, 1e-5);
  EXPECT_NEAR(coord_->weights()[1], 1.0, 1e-5);
  ASSERT_TRUE(reports_.reports.back().privacy.has_value());
  EXPECT_DOUBLE_EQ(reports_.reports.back().privacy->sampling_rate, 0.5);
}

TEST_F(CoordinatorTest, PauseLetsTheOpenRoundEndAndStartsNoOtherUntilResumed) {
  CoordinatorConfig cfg = Config(1);
  cfg.rounds = 3;
  Start(cfg);
  Hello("a", 1);
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  coord_->SetPaused(true, now_);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);  // round 1 goes on
  Send("a", UpdateFor(1, {1, 1, 1, 1}));
  EXPECT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kWaitingForClients);
  EXPECT_TRUE(coord_->paused());
  // Ticks and heartbeats do not start round 2 while paused.
  now_ += absl::Seconds(3);
  protocol::Heartbeat hb;
  hb.client_id = 1;
  Send("a", hb);
  coord_->OnTick(now_);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kWaitingForClients);
  EXPECT_EQ(outbox_.To<protocol::Task>("a").size(), 1u);
  EXPECT_TRUE(outbox_.To<protocol::Shutdown>("a").empty());
  coord_->SetPaused(false, now_);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  auto tasks = outbox_.To<protocol::Task>("a");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[1].round, 2u);
}

TEST_F(CoordinatorTest, StopBetweenRoundsFinishesAtOnceAndTellsClients) {
  CoordinatorConfig cfg = Config(2);
  cfg.rounds = 5;
  Start(cfg);
  Hello("a", 1);  // one short of min_clients: waiting
  coord_->RequestStop(now_);
  EXPECT_TRUE(coord_->done());
  EXPECT_TRUE(coord_->stopped_by_operator());
  EXPECT_EQ(coord_->completed_rounds(), 0u);
  EXPECT_THAT(coord_->finish_reason(), ::testing::HasSubstr("stopped by the operator"));
  EXPECT_EQ(outbox_.To<protocol::Shutdown>("a").size(), 1u);
}

TEST_F(CoordinatorTest, StopDuringARoundKeepsThatRoundsModelThenFinishes) {
  CoordinatorConfig cfg = Config(1);
  cfg.rounds = 5;
  Start(cfg);
  Hello("a", 1);
  coord_->RequestStop(now_);
  EXPECT_FALSE(coord_->done());
  EXPECT_TRUE(coord_->stop_requested());
  Send("a", UpdateFor(1, {1, 0, 0, 0}));
  EXPECT_TRUE(coord_->done());
  EXPECT_TRUE(coord_->stopped_by_operator());
  EXPECT_EQ(coord_->completed_rounds(), 1u);
  EXPECT_EQ(coord_->model_version(), 1u);
  EXPECT_FLOAT_EQ(coord_->weights()[0], 2.0f);
  ASSERT_EQ(reports_.reports.size(), 1u);  // the round was reported, no other started
  EXPECT_EQ(outbox_.To<protocol::Task>("a").size(), 1u);
  EXPECT_EQ(outbox_.To<protocol::Shutdown>("a").size(), 1u);
}

TEST_F(CoordinatorTest, CountsRegistrationsAndSilentDrops) {
  Start(Config(3));
  Hello("a", 1);
  Hello("b", 2);
  Hello("a", 1);  // re-registers
  EXPECT_EQ(coord_->stats().registrations, 3u);
  now_ += absl::Seconds(10);
  coord_->OnTick(now_);
  EXPECT_EQ(coord_->stats().clients_dropped, 2u);
  EXPECT_EQ(coord_->registered_clients(), 0u);
}

// A Hello re-sent because the Welcome was slow (the same registration from
// the same peer) is answered again and leaves the client in its round; a new
// registration, or a Hello without one, means the client lost its task.
TEST_F(CoordinatorTest, ARepeatedHelloKeepsItsRoundANewRegistrationDoesNot) {
  Start(Config(2));
  auto hello = [&](const std::string& peer, uint64_t id, uint64_t registration) {
    protocol::Hello h;
    h.client_id = id;
    h.num_examples = 100;
    h.registration = registration;
    Send(peer, h);
  };
  hello("a", 1, 11);
  hello("b", 2, 22);
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  ASSERT_EQ(outbox_.To<protocol::Task>("a").size(), 1u);

  hello("a", 1, 11);  // repeated: still in round 1
  EXPECT_EQ(coord_->stats().hellos_repeated, 1u);
  EXPECT_EQ(coord_->stats().registrations, 2u);
  EXPECT_EQ(outbox_.To<protocol::Welcome>("a").size(), 2u);
  Send("a", UpdateFor(1, {1, 0, 0, 0}));
  EXPECT_TRUE(ErrorsTo("a").empty());

  // Another client on b's peer with the same registration value is no
  // repeat: b's client 2 is dropped from the round, which cannot complete.
  hello("b", 3, 22);
  EXPECT_EQ(coord_->stats().hellos_repeated, 1u);
  EXPECT_EQ(coord_->stats().registrations, 3u);
  EXPECT_EQ(coord_->completed_rounds(), 0u);

  // A new registration on a's peer (a restarted client), and a Hello without
  // one, register anew.
  hello("a", 1, 12);
  hello("a", 1, 0);
  EXPECT_EQ(coord_->stats().hellos_repeated, 1u);
  EXPECT_EQ(coord_->stats().registrations, 5u);
}

TEST(CoordinatorCreateTest, RejectsInconsistentConfig) {
  RecordingOutbox outbox;
  CoordinatorConfig cfg;
  cfg.quorum = 3;
  cfg.min_clients = 2;
  EXPECT_THAT(Coordinator::Create(cfg, TinyModel(), &outbox, nullptr, nullptr, absl::Now()),
              ::fedge::testing::StatusIs(absl::StatusCode::kInvalidArgument, "quorum"));
  cfg = CoordinatorConfig();
  cfg.fraction = 0;
  EXPECT_THAT(Coordinator::Create(cfg, TinyModel(), &outbox, nullptr, nullptr, absl::Now()),
              ::fedge::testing::StatusIs(absl::StatusCode::kInvalidArgument, "fraction"));
  cfg = CoordinatorConfig();
  protocol::ModelPayload bad = TinyModel();
  bad.weights.push_back(1);
  EXPECT_THAT(Coordinator::Create(cfg, bad, &outbox, nullptr, nullptr, absl::Now()),
              ::fedge::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fedge::coordinator
