// The coordinator in --mode=async (FedBuff), sans I/O: it keeps the task
// slots full, folds stale updates with their discount, refuses what it must,
// publishes reports in order as their evaluations return, resumes from a
// checkpoint publishing each version once, sends a version's model once per
// shared connection, draws idle clients uniformly, and refuses the pairings
// it cannot run.

#include <cmath>
#include <map>
#include <random>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/async_round.h"
#include "coordinator/checkpoint.h"
#include "coordinator/coordinator.h"
#include "protocol/peer_address.h"
#include "tests/coordinator/fakes.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using protocol::ErrorCode;

// ---- The coordinator in async mode -------------------------------------------

CoordinatorConfig AsyncConfig(uint64_t rounds, uint32_t concurrency, uint32_t buffer) {
  CoordinatorConfig cfg;
  cfg.rounds = rounds;
  cfg.min_clients = 4;
  cfg.quorum = 1;
  cfg.round_timeout = absl::Seconds(30);
  cfg.missed_heartbeats = 1000;
  cfg.training.batch_size = 8;
  cfg.async.enabled = true;
  cfg.async.concurrency = concurrency;
  cfg.async.buffer = buffer;
  cfg.async.max_staleness = 1;
  cfg.async.staleness_exponent = 0.5;
  return cfg;
}

class AsyncCoordinatorTest : public ::testing::Test {
 protected:
  void Start(CoordinatorConfig cfg, Evaluator* evaluator = nullptr) {
    cfg.checkpoint_sink = &sink_;
    auto c = Coordinator::Create(cfg, TinyModel(), &outbox_, evaluator, &reports_, now_);
    ASSERT_THAT(c, IsOk());
    coord_ = *std::move(c);
  }
  void RegisterAll() {
    for (int c = 0; c < 4; ++c) {
      SendHello(*coord_, Peer(c), c + 1, 10 * static_cast<uint64_t>(c + 1), now_);
    }
  }
  static std::string Peer(int c) { return "p" + std::to_string(c); }
  // The peers holding a task now, and the task each holds.
  std::map<std::string, protocol::Task> Busy() const {
    std::map<std::string, protocol::Task> busy;
    for (int c = 0; c < 4; ++c) {
      auto tasks = outbox_.To<protocol::Task>(Peer(c));
      auto updates = sent_.find(Peer(c));
      const size_t answered = updates == sent_.end() ? 0 : updates->second;
      if (tasks.size() > answered) busy[Peer(c)] = tasks.back();
    }
    return busy;
  }
  // Client `peer` answers its newest task with `delta`.
  void Answer(const std::string& peer, std::vector<float> delta, absl::Time at) {
    const protocol::Task task = outbox_.To<protocol::Task>(peer).back();
    const uint64_t id = static_cast<uint64_t>(std::stoi(peer.substr(1)) + 1);
    ++sent_[peer];
    SendUpdate(*coord_, peer, task.round, task.model_version, id, 10 * id, std::move(delta), at);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  RecordingOutbox outbox_;
  Reports reports_;
  KeepingSink sink_;
  std::unique_ptr<Coordinator> coord_;
  std::map<std::string, size_t> sent_;
};

TEST_F(AsyncCoordinatorTest, KeepsTheSlotsFullAndPublishesEveryBufferWithStaleness) {
  Start(AsyncConfig(3, 2, 2));
  RegisterAll();
  ASSERT_EQ(coord_->phase(), Coordinator::Phase::kTraining);
  std::map<std::string, protocol::Task> busy = Busy();
  ASSERT_EQ(busy.size(), 2u);  // the concurrency
  for (const auto& [peer, task] : busy) EXPECT_EQ(task.model_version, 0u);
  const std::string first = busy.begin()->first, second = std::next(busy.begin())->first;
  // The first update frees a slot at once: a third client trains on version 0.
  Answer(first, {0.4f, 0, 0, 0}, now_);
  EXPECT_EQ(coord_->model_version(), 0u);
  busy = Busy();
  ASSERT_EQ(busy.size(), 2u);
  std::string third;
  for (const auto& [peer, task] : busy) {
    if (peer != second) third = peer;
  }
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(busy[third].model_version, 0u);
  // The second fills the buffer: version 1 = 1 + mean (example-weighted).
  Answer(second, {0, 0.8f, 0, 0}, now_);
  ASSERT_EQ(coord_->model_version(), 1u);
  const double n1 = 10.0 * (std::stoi(first.substr(1)) + 1),
               n2 = 10.0 * (std::stoi(second.substr(1)) + 1);
  EXPECT_NEAR(coord_->weights()[0], 1 + 0.4 * n1 / (n1 + n2), 1e-6);
  EXPECT_NEAR(coord_->weights()[1], 1 + 0.8 * n2 / (n1 + n2), 1e-6);
  ASSERT_EQ(reports_.reports.size(), 1u);
  EXPECT_EQ(reports_.reports[0].round, 1u);
  EXPECT_EQ(reports_.reports[0].aggregated, 2u);
  EXPECT_EQ(reports_.reports[0].async->staleness_max, 0u);
  // The third client's update on version 0 is one version stale: weighted
  // 1/sqrt(2) into version 2's buffer.
  const std::vector<float> before = coord_->weights();
  Answer(third, {0, 0, 1, 0}, now_);
  EXPECT_EQ(coord_->model_version(), 1u);
  busy = Busy();
  std::string fourth;
  for (const auto& [peer, task] : busy) {
    if (task.model_version == 1u && peer != third) fourth = peer;
  }
  ASSERT_FALSE(fourth.empty());
  Answer(fourth, {0, 0, 0, 1}, now_);
  ASSERT_EQ(coord_->model_version(), 2u);
  const double n3 = 10.0 * (std::stoi(third.substr(1)) + 1),
               n4 = 10.0 * (std::stoi(fourth.substr(1)) + 1);
  EXPECT_NEAR(coord_->weights()[2], before[2] + (1 / std::sqrt(2.0)) * n3 / (n3 + n4), 1e-6);
  EXPECT_NEAR(coord_->weights()[3], before[3] + n4 / (n3 + n4), 1e-6);
  ASSERT_EQ(reports_.reports.size(), 2u);
  EXPECT_DOUBLE_EQ(reports_.reports[1].async->staleness_mean, 0.5);
  EXPECT_EQ(sink_.files.size(), 2u);  // a checkpoint per version
}

TEST_F(AsyncCoordinatorTest, RefusesUpdatesWithoutATaskTooStaleOrForAnotherVersion) {
  Start(AsyncConfig(10, 2, 1));  // max_staleness 1
  RegisterAll();
  std::map<std::string, protocol::Task> busy = Busy();
  ASSERT_EQ(busy.size(), 2u);
  std::string idle;
  for (int c = 0; c < 4; ++c) {
    if (!busy.count(Peer(c))) idle = Peer(c);
  }
  // An update from a client with no task out.
  SendUpdate(*coord_, idle, 1, 0, std::stoi(idle.substr(1)) + 1, 5, {1, 1, 1, 1}, now_);
  EXPECT_EQ(outbox_.Count(idle, ErrorCode::kNotInCohort), 1u);
  // A wrong model version for the task sent.
  const std::string a = busy.begin()->first;
  const protocol::Task task = busy.begin()->second;
  SendUpdate(*coord_, a, task.round, task.model_version + 5, std::stoi(a.substr(1)) + 1, 5,
             {1, 1, 1, 1}, now_);
  EXPECT_EQ(outbox_.Count(a, ErrorCode::kWrongModelVersion), 1u);
  EXPECT_EQ(coord_->model_version(), 0u);
  // The other busy client stays out while two versions are made (buffer 1):
  // its update is then 2 versions stale, over max_staleness 1.
  const std::string slow = std::next(busy.begin())->first;
  for (int v = 0; v < 2; ++v) {
    for (const auto& [peer, t] : Busy()) {
      if (peer != slow) {
        Answer(peer, {0.1f, 0, 0, 0}, now_);
        break;
      }
    }
  }
  ASSERT_EQ(coord_->model_version(), 2u);
  const std::vector<float> before = coord_->weights();
  Answer(slow, {5, 5, 5, 5}, now_);
  EXPECT_EQ(outbox_.Count(slow, ErrorCode::kStale), 1u);
  EXPECT_EQ(coord_->weights(), before);
  // Its slot is free again: it may be given a task on the current model.
  EXPECT_EQ(coord_->tasks_in_flight(), 2u);
}

TEST_F(AsyncCoordinatorTest, AnOverdueTaskFreesItsSlotAndItsLateUpdateIsNotFoldedTwice) {
  Start(AsyncConfig(10, 1, 1));
  RegisterAll();
  std::map<std::string, protocol::Task> busy = Busy();
  ASSERT_EQ(busy.size(), 1u);
  const std::string late = busy.begin()->first;
  const protocol::Task old = busy.begin()->second;
  EXPECT_EQ(coord_->NextDeadline(now_ + absl::Seconds(29.5)), now_ + absl::Seconds(30));
  coord_->OnTick(now_ + absl::Seconds(30));
  // The slot went to a client at once: another one, or the same one again
  // (a new task on the same version, which that client takes as the one it
  // is training for).
  ASSERT_EQ(coord_->tasks_in_flight(), 1u);
  const bool same = outbox_.To<protocol::Task>(late).size() == 2;
  const auto send_late = [&] {
    SendUpdate(*coord_, late, old.round, old.model_version, std::stoi(late.substr(1)) + 1, 5,
               {1, 1, 1, 1}, now_ + absl::Seconds(31));
  };
  send_late();
  if (same) {
    EXPECT_EQ(coord_->model_version(), 1u);  // it answers the new task, once
    send_late();
    // Refused: it has no task now, or a newer one.
    EXPECT_EQ(outbox_.Count(late, ErrorCode::kNotInCohort) +
                  outbox_.Count(late, ErrorCode::kWrongRound),
              1u);
    EXPECT_EQ(coord_->model_version(), 1u);
  } else {
    EXPECT_EQ(outbox_.Count(late, ErrorCode::kNotInCohort), 1u);
    EXPECT_EQ(coord_->model_version(), 0u);
  }
}

// Evaluations run beside training: reports wait for theirs, in order; one
// the evaluator skipped (it took a newer version) is published without it;
// the run ends only once the last version is evaluated.
TEST_F(AsyncCoordinatorTest, ReportsWaitForTheirEvaluationInOrderAndTheLastIsWaitedFor) {
  RecordingEvaluator evaluator;
  Start(AsyncConfig(3, 2, 1), &evaluator);
  RegisterAll();
  for (int v = 0; v < 2; ++v) {
    Answer(Busy().begin()->first, {0.1f, 0, 0, 0}, now_);
  }
  ASSERT_EQ(coord_->model_version(), 2u);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kTraining);  // training goes on
  ASSERT_EQ(evaluator.started.size(), 2u);
  EXPECT_TRUE(reports_.reports.empty());
  EvalMetrics m;
  m.accuracy = 0.75;
  m.loss = 0.5;
  coord_->OnServerEvaluation(2, m, now_);  // version 1's was skipped
  ASSERT_EQ(reports_.reports.size(), 2u);
  EXPECT_FALSE(reports_.reports[0].evaluated);
  EXPECT_TRUE(reports_.reports[1].evaluated);
  EXPECT_EQ(reports_.reports[1].eval.accuracy, 0.75);
  Answer(Busy().begin()->first, {0.1f, 0, 0, 0}, now_);
  ASSERT_EQ(coord_->model_version(), 3u);
  EXPECT_EQ(coord_->phase(), Coordinator::Phase::kServerEvaluating);
  EXPECT_FALSE(coord_->done());
  // A late update meanwhile is dropped quietly, not folded.
  for (const auto& [peer, t] : Busy()) Answer(peer, {9, 9, 9, 9}, now_);
  coord_->OnServerEvaluation(3, m, now_);
  EXPECT_TRUE(coord_->done());
  ASSERT_EQ(reports_.reports.size(), 3u);
  EXPECT_TRUE(reports_.reports[2].evaluated);
  EXPECT_EQ(reports_.reports[2].model_version, 3u);
}

// Answers the coordinator's tasks one at a time (lowest peer first) until
// it reaches `goal`; a client's delta depends on its id and the task's model
// version only, so two coordinators in the same state given the same
// answers must end with the same model.
void DriveTo(Coordinator* c, const RecordingOutbox& box, std::map<std::string, size_t>* answered,
             uint64_t goal, absl::Time now) {
  while (c->model_version() < goal) {
    bool any = false;
    for (int p = 0; p < 4 && !any; ++p) {
      const std::string peer = "p" + std::to_string(p);
      const auto tasks = box.To<protocol::Task>(peer);
      if (tasks.size() <= (*answered)[peer]) continue;
      (*answered)[peer] = tasks.size();
      const protocol::Task& t = tasks.back();
      SendUpdate(*c, peer, t.round, t.model_version, p + 1, 10 * static_cast<uint64_t>(p + 1),
                 {0.1f * (p + 1), -0.1f, 0.05f, 0.01f * static_cast<float>(t.model_version)},
                 now);
      any = true;
    }
    ASSERT_TRUE(any) << "no task out at version " << c->model_version();
  }
}

// kill -9 between versions: the checkpoint holds the model, its version and
// the optimiser's state; coordinators resumed from it continue with versions
// 4, 5, 6 (none published twice), fold exactly --buffer updates into each,
// refuse an update of a task sent before the kill (it is folded nowhere),
// and two resumptions given the same updates make the same model. What the
// kill loses is the partial buffer (docs/topologies.md).
TEST_F(AsyncCoordinatorTest, ResumingFromACheckpointPublishesEachVersionOnceAndIsDeterministic) {
  CoordinatorConfig cfg = AsyncConfig(6, 2, 2);
  cfg.strategy.name = "fedavgm";  // optimiser state must survive too
  cfg.strategy.optimizer.learning_rate = 1.0;
  Start(cfg);
  RegisterAll();
  DriveTo(coord_.get(), outbox_, &sent_, 3, now_);
  ASSERT_EQ(sink_.files.size(), 3u);
  const CoordinatorSnapshot at_kill = coord_->Snapshot();
  absl::StatusOr<Checkpoint> c = DecodeCheckpoint(sink_.files.back(), 1 << 20);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->coordinator.model_version, 3u);
  EXPECT_EQ(c->coordinator.model.weights, at_kill.model.weights);
  EXPECT_EQ(c->coordinator.optimizer.state, at_kill.optimizer.state);

  struct Resumed {
    RecordingOutbox outbox;
    Reports reports;
    KeepingSink sink;
    std::unique_ptr<Coordinator> coord;
    std::map<std::string, size_t> answered;
  };
  const auto resume = [&](Resumed* r) {
    CoordinatorConfig again = cfg;
    again.checkpoint_sink = &r->sink;
    auto made = Coordinator::Create(again, TinyModel(), &r->outbox, nullptr, &r->reports, now_);
    ASSERT_THAT(made, IsOk());
    r->coord = *std::move(made);
    ASSERT_THAT(r->coord->Restore(c->coordinator), IsOk());
    for (int p = 0; p < 4; ++p) {
      SendHello(*r->coord, Peer(p), p + 1, 10 * static_cast<uint64_t>(p + 1), now_);
    }
  };
  Resumed one, two;
  resume(&one);
  resume(&two);
  ASSERT_EQ(one.coord->model_version(), 3u);
  EXPECT_EQ(one.coord->weights(), at_kill.model.weights);
  // A client that trained on version 3 before the kill and has no task from
  // the restarted coordinator sends its update: refused, not folded.
  std::string idle;
  for (int p = 0; p < 4; ++p) {
    if (one.outbox.To<protocol::Task>(Peer(p)).empty()) idle = Peer(p);
  }
  ASSERT_FALSE(idle.empty());
  SendUpdate(*one.coord, idle, 4, 3, std::stoi(idle.substr(1)) + 1, 10, {100, 100, 100, 100},
             now_);
  EXPECT_EQ(one.outbox.Count(idle, ErrorCode::kNotInCohort), 1u);
  EXPECT_EQ(one.coord->inputs_accepted(), 0u);

  DriveTo(one.coord.get(), one.outbox, &one.answered, 6, now_);
  DriveTo(two.coord.get(), two.outbox, &two.answered, 6, now_);
  EXPECT_EQ(one.coord->weights(), two.coord->weights());
  std::vector<uint64_t> versions;
  for (const RoundReport& r : one.reports.reports) {
    versions.push_back(r.model_version);
    EXPECT_EQ(r.aggregated, 2u) << r.round;
  }
  EXPECT_THAT(versions, ElementsAre(4u, 5u, 6u));
  EXPECT_TRUE(one.coord->done());
  EXPECT_EQ(one.sink.files.size(), 3u);
}

// Async mode sends a task at a time: on a shared connection the first task
// of a version carries the model and later ones, in later batches, name it by
// reference; a Hello from the connection (its process may have restarted)
// or an error it reports makes the next task carry the model again.
TEST(AsyncSharedConnectionTest, AVersionsModelGoesOncePerConnectionAcrossBatches) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  RecordingOutbox box;
  CoordinatorConfig cfg = AsyncConfig(100, 1, 100);  // one slot: one task per batch
  cfg.min_clients = 3;
  auto made = Coordinator::Create(cfg, TinyModel(), &box, nullptr, nullptr, now);
  ASSERT_THAT(made, IsOk());
  Coordinator& c = **made;
  const std::vector<std::string> peers = {protocol::EncodePeer("host-x", "1"),
                                          protocol::EncodePeer("host-x", "2"),
                                          protocol::EncodePeer("host-x", "3")};
  for (size_t i = 0; i < peers.size(); ++i) {
    SendHello(c, peers[i], i + 1, 10, now);
  }
  // Every task in order, with whether it carried the model.
  std::vector<bool> carried;
  std::map<std::string, size_t> seen;
  const auto answer_one = [&] {
    for (size_t i = 0; i < peers.size(); ++i) {
      const auto tasks = box.To<protocol::Task>(peers[i]);
      if (tasks.size() == seen[peers[i]]) continue;
      seen[peers[i]] = tasks.size();
      const protocol::Task& t = tasks.back();
      carried.push_back(!t.model_by_reference);
      EXPECT_EQ(t.model_by_reference, t.model.weights.empty());
      SendUpdate(c, peers[i], t.round, t.model_version, i + 1, 10, {0.1f, 0, 0, 0}, now);
      return;
    }
    ADD_FAILURE() << "no task out";
  };
  for (int k = 0; k < 4; ++k) answer_one();
  EXPECT_EQ(c.model_version(), 0u);  // the buffer of 100 is far from full
  EXPECT_EQ(carried, (std::vector<bool>{true, false, false, false}));
  // The client holding the fifth task (by reference) registers again: that
  // task is dropped, and the next one carries the model.
  size_t busy = peers.size();
  for (size_t i = 0; i < peers.size(); ++i) {
    const size_t n = box.To<protocol::Task>(peers[i]).size();
    if (n > seen[peers[i]]) {
      EXPECT_TRUE(box.To<protocol::Task>(peers[i]).back().model_by_reference);
      busy = i;
      seen[peers[i]] = n;
    }
  }
  ASSERT_LT(busy, peers.size());
  SendHello(c, peers[busy], busy + 1, 10, now);
  for (int k = 0; k < 2; ++k) answer_one();
  ASSERT_EQ(carried.size(), 6u);
  EXPECT_TRUE(carried[4]);
  EXPECT_FALSE(carried[5]);
}

// With many more clients than slots the coordinator draws idle clients at
// random instead of listing them all: only idle ones, each about equally often.
TEST(AsyncDispatchTest, ManyClientsFewSlotsDrawsIdleClientsUniformly) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  RecordingOutbox box;
  CoordinatorConfig cfg = AsyncConfig(1000000, 2, 1);
  auto made = Coordinator::Create(cfg, TinyModel(), &box, nullptr, nullptr, now);
  ASSERT_THAT(made, IsOk());
  Coordinator& c = **made;
  constexpr int kClients = 40;
  for (int i = 0; i < kClients; ++i) {
    SendHello(c, "p" + std::to_string(i), i + 1, 10, now);
  }
  std::vector<size_t> answered(kClients, 0);
  std::vector<int> tasks(kClients, 0);
  for (int step = 0; step < 2000; ++step) {
    ASSERT_EQ(c.tasks_in_flight(), 2u) << step;
    // The lowest- and the highest-numbered busy client answer in turn, so
    // neither slot is held for ever.
    int busy = -1;
    for (int k = 0; k < kClients; ++k) {
      const int i = step % 2 == 0 ? k : kClients - 1 - k;
      const size_t n = box.To<protocol::Task>("p" + std::to_string(i)).size();
      ASSERT_LE(n, answered[i] + 1) << "two tasks out to one client";
      if (n > answered[i]) {
        busy = i;
        break;
      }
    }
    ASSERT_GE(busy, 0);
    const protocol::Task t = box.To<protocol::Task>("p" + std::to_string(busy)).back();
    ++answered[busy];
    ++tasks[busy];
    SendUpdate(c, "p" + std::to_string(busy), t.round, t.model_version, busy + 1, 10,
               {0, 0, 0, 0}, now);
  }
  // 2000 tasks over 40 clients: 50 each on average (sd ~7).
  for (int i = 0; i < kClients; ++i) EXPECT_NEAR(tasks[i], 50, 25) << i;
}

TEST(AsyncConfigTest, ImpossiblePairingsAreRefusedNamingTheFlags) {
  const auto refused = [](CoordinatorConfig cfg, const std::string& what) {
    EXPECT_THAT(Coordinator::Create(cfg, TinyModel(), nullptr, nullptr, nullptr, absl::Now()),
                StatusIs(absl::StatusCode::kInvalidArgument, what));
  };
  CoordinatorConfig secure = AsyncConfig(2, 2, 2);
  secure.secure.enabled = true;
  refused(secure, "--mode=async cannot run with --secure");
  CoordinatorConfig dp = AsyncConfig(2, 2, 2);
  dp.privacy.mode = protocol::PrivacyMode::kCentral;
  refused(dp, "--mode=async cannot run with --dp");
  CoordinatorConfig scaffold = AsyncConfig(2, 2, 2);
  scaffold.strategy.name = "scaffold";
  refused(scaffold, "--strategy=scaffold cannot run with --mode=async");
  CoordinatorConfig over = AsyncConfig(2, 2, 2);
  over.over_select = 0.5;
  refused(over, "--over_select applies to synchronous rounds");
  CoordinatorConfig fed = AsyncConfig(2, 2, 2);
  fed.fraction_evaluate = 0.5;
  refused(fed, "--fraction_evaluate cannot run with --mode=async");
  CoordinatorConfig empty = AsyncConfig(2, 2, 0);
  refused(empty, "--buffer must be at least 1");
  CoordinatorConfig exponent = AsyncConfig(2, 2, 2);
  exponent.async.staleness_exponent = -1;
  refused(exponent, "--staleness_exponent=-1 is not in [0, 10]");
}

}  // namespace
}  // namespace fedge::coordinator
