// The coordinator's secure rounds, driven in-process end to end: a sans-I/O
// Coordinator with secure aggregation on one side, and on the other the real
// client-side SecureSession (SecAgg client + fixed-point encoding) per peer.
// Frames go through the real codec both ways.

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/secure_session.h"
#include "coordinator/coordinator.h"
#include "tests/coordinator/fakes.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using protocol::ErrorCode;

struct Peer {
  std::string name;
  uint64_t id = 0;
  uint64_t examples = 0;
  std::vector<float> delta;
  std::vector<float> control_delta;  // SCAFFOLD rounds: c_i+ - c_i
  std::unique_ptr<client::SecureSession> session;
  size_t consumed = 0;  // messages from the outbox already handled
  bool trains = true;   // false: never sends its masked input (drops after ShareKeys)
  bool responds = true; // false: vanishes on receiving its task
  std::string advertise;  // its AdvertiseKeys frame, to replay
};

class SecureRoundTest : public ::testing::Test {
 protected:
  void Start(secure::SecAggVariant variant, double dropout) {
    CoordinatorConfig cfg;
    cfg.rounds = rounds_;
    cfg.strategy.name = strategy_;
    cfg.min_clients = static_cast<uint32_t>(peers_.size());
    cfg.quorum = 1;
    cfg.round_timeout = absl::Seconds(60);
    cfg.missed_heartbeats = 100000;  // liveness is not under test
    cfg.training.batch_size = 8;
    cfg.secure.enabled = true;
    cfg.secure.variant = variant;
    cfg.secure.expected_dropout = dropout;
    cfg.secure.clip = 1.0f;
    cfg.secure.phase_timeout = absl::Seconds(10);
    cfg.privacy = privacy_;
    protocol::ModelPayload model;
    model.manifest.tensors = {{"w", {static_cast<int64_t>(model_size_)}, protocol::DType::kFloat32}};
    model.architecture_id = "builtin:mlp";
    model.architecture = "mlp";
    model.weights.assign(model_size_, 1.0f);
    auto c = Coordinator::Create(cfg, model, &outbox_, nullptr, &reports_, now_);
    ASSERT_THAT(c, IsOk());
    coord_ = *std::move(c);
    for (Peer& p : peers_) {
      protocol::Hello h;
      h.client_id = p.id;
      h.num_examples = p.examples;
      coord_->OnFrame(p.name, protocol::Encode(protocol::Message(h)), now_);
    }
  }

  void AddPeers(int n) {
    for (int i = 0; i < n; ++i) {
      Peer p;
      p.name = "peer-" + std::to_string(i);
      p.id = 100 + static_cast<uint64_t>(i);
      p.examples = 50 + 25 * static_cast<uint64_t>(i);
      for (size_t j = 0; j < model_size_; ++j) {
        p.delta.push_back(0.01f * static_cast<float>((i + 1) * (j % 3 == 0 ? -1 : 1)) +
                          0.001f * static_cast<float>(j));
        p.control_delta.push_back(0.05f * static_cast<float>(i + 1) -
                                  0.02f * static_cast<float>(j));
      }
      peers_.push_back(std::move(p));
    }
  }

  // Delivers everything the coordinator sent until nothing moves.
  void Pump() {
    for (bool moved = true; moved;) {
      moved = false;
      for (Peer& p : peers_) {
        std::vector<protocol::Message>& inbox = outbox_.sent[p.name];
        while (p.consumed < inbox.size()) {
          protocol::Message m = inbox[p.consumed++];
          moved = true;
          if (auto* task = std::get_if<protocol::Task>(&m)) OnTask(p, *task);
          if (auto* sa = std::get_if<protocol::SecAggToClient>(&m)) OnSecAgg(p, *sa);
          if (auto* e = std::get_if<protocol::ErrorReply>(&m)) errors_[p.name].push_back(e->code);
        }
      }
    }
  }

  void OnTask(Peer& p, const protocol::Task& task) {
    ASSERT_TRUE(task.secure.enabled);
    std::string first;
    auto s = client::SecureSession::Start(task, p.id, secure::SecureRandom::Default(), &first);
    ASSERT_THAT(s, IsOk());
    p.session = *std::move(s);
    p.advertise = first;
    if (!p.responds) return;
    Deliver(p, first);
    if (p.trains) {
      auto masked = p.session->SetUpdate(
          p.delta, p.examples,
          task.control.empty() ? std::vector<float>() : p.control_delta);
      ASSERT_THAT(masked, IsOk());
      if (masked->has_value()) Deliver(p, **masked);
    }
  }

  void OnSecAgg(Peer& p, const protocol::SecAggToClient& m) {
    if (!p.responds || p.session == nullptr) return;
    auto reply = p.session->OnMessage(m);
    ASSERT_THAT(reply, IsOk());
    if (reply->has_value()) Deliver(p, **reply);
  }

  void Deliver(Peer& p, const std::string& frame) { coord_->OnFrame(p.name, frame, now_); }

  void Tick(absl::Duration d) {
    now_ += d;
    coord_->OnTick(now_);
    Pump();
  }

  // 1 + the example-weighted mean delta of the given peers.
  std::vector<float> ExpectedWeights(const std::vector<const Peer*>& in) const {
    std::vector<double> sum(model_size_, 0);
    double total = 0;
    for (const Peer* p : in) {
      total += static_cast<double>(p->examples);
      for (size_t j = 0; j < model_size_; ++j) sum[j] += p->examples * double{p->delta[j]};
    }
    std::vector<float> w(model_size_);
    for (size_t j = 0; j < model_size_; ++j) w[j] = static_cast<float>(1.0 + sum[j] / total);
    return w;
  }

  void ExpectWeightsNear(const std::vector<float>& want) {
    ASSERT_EQ(coord_->weights().size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) {
      EXPECT_NEAR(coord_->weights()[j], want[j], 1e-6) << "weight " << j;
    }
  }

  // The tasks `p` was sent, in order.
  std::vector<protocol::Task> TasksOf(const Peer& p) {
    std::vector<protocol::Task> tasks;
    for (const protocol::Message& m : outbox_.sent[p.name]) {
      if (auto* t = std::get_if<protocol::Task>(&m)) tasks.push_back(*t);
    }
    return tasks;
  }

  uint64_t rounds_ = 1;
  size_t model_size_ = 6;
  PrivacyOptions privacy_;  // off unless a test sets it
  std::string strategy_ = "fedavg";
  absl::Time now_ = absl::FromUnixSeconds(5000);
  RecordingOutbox outbox_;
  Reports reports_;
  std::unique_ptr<Coordinator> coord_;
  std::vector<Peer> peers_;
  std::map<std::string, std::vector<ErrorCode>> errors_;
};

TEST_F(SecureRoundTest, SecAggRoundEqualsPlainFedAvg) {
  AddPeers(5);
  Start(secure::SecAggVariant::kFull, 0.2);
  Pump();
  ASSERT_EQ(reports_.reports.size(), 1u);
  const RoundReport& r = reports_.reports[0];
  EXPECT_TRUE(r.completed) << r.failure;
  EXPECT_EQ(r.aggregated, 5u);
  EXPECT_TRUE(std::isnan(r.train_loss));  // no client's metrics reach the coordinator
  std::vector<const Peer*> all;
  for (const Peer& p : peers_) all.push_back(&p);
  ExpectWeightsNear(ExpectedWeights(all));
  EXPECT_EQ(coord_->model_version(), 1u);
  EXPECT_TRUE(errors_.empty());
}

TEST_F(SecureRoundTest, SecAggPlusRoundEqualsPlainFedAvg) {
  AddPeers(8);
  Start(secure::SecAggVariant::kPlus, 0.2);
  Pump();
  ASSERT_EQ(reports_.reports.size(), 1u);
  EXPECT_TRUE(reports_.reports[0].completed) << reports_.reports[0].failure;
  std::vector<const Peer*> all;
  for (const Peer& p : peers_) all.push_back(&p);
  ExpectWeightsNear(ExpectedWeights(all));
}

TEST_F(SecureRoundTest, ClientThatNeverTrainsIsUnmaskedAfterTheDeadline) {
  AddPeers(5);
  peers_[2].trains = false;  // exchanges keys, then never sends a masked input
  Start(secure::SecAggVariant::kFull, 0.4);
  Pump();
  EXPECT_TRUE(reports_.reports.empty());  // waiting for peer 2 until the deadline
  Tick(absl::Seconds(61));
  ASSERT_EQ(reports_.reports.size(), 1u);
  const RoundReport& r = reports_.reports[0];
  EXPECT_TRUE(r.completed) << r.failure;
  EXPECT_EQ(r.aggregated, 4u);
  ExpectWeightsNear(ExpectedWeights({&peers_[0], &peers_[1], &peers_[3], &peers_[4]}));
}

// SCAFFOLD under SecAgg: each masked input also carries the client's
// control-variate change, so the server's c moves by |S|/N times the
// survivors' mean change (Karimireddy et al. 2020, Algorithm 1) without any
// single change reaching the coordinator. Peer 2 never trains: S is 4 of 5.
TEST_F(SecureRoundTest, ScaffoldControlVariatesAreAggregatedSecurely) {
  AddPeers(5);
  peers_[2].trains = false;
  rounds_ = 2;
  strategy_ = "scaffold";
  Start(secure::SecAggVariant::kFull, 0.4);
  Pump();
  EXPECT_TRUE(reports_.reports.empty());
  Tick(absl::Seconds(61));  // the training deadline: peer 2 is a dropout
  ASSERT_GE(reports_.reports.size(), 1u);
  EXPECT_TRUE(reports_.reports[0].completed) << reports_.reports[0].failure;
  EXPECT_EQ(reports_.reports[0].aggregated, 4u);
  std::vector<const Peer*> survivors = {&peers_[0], &peers_[1], &peers_[3], &peers_[4]};
  std::vector<protocol::Task> tasks = TasksOf(peers_[0]);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].control, std::vector<float>(model_size_, 0.0f));
  ASSERT_EQ(tasks[1].control.size(), model_size_);
  for (size_t j = 0; j < model_size_; ++j) {
    double mean = 0;
    for (const Peer* p : survivors) mean += p->control_delta[j] / 4.0;
    // Fixed point costs at most 0.5 / scale per client (scale ~ 2^31 / 5).
    EXPECT_NEAR(tasks[1].control[j], 4.0 / 5.0 * mean, 1e-6) << "coordinate " << j;
  }
  // The model moved by the survivors' weighted mean delta, as in FedAvg.
  std::vector<float> want = ExpectedWeights(survivors);
  for (size_t j = 0; j < model_size_; ++j) {
    EXPECT_NEAR(tasks[1].model.weights[j], want[j], 1e-6) << "weight " << j;
  }
}

TEST_F(SecureRoundTest, TooManyDropoutsFailTheRoundAndKeepTheModel) {
  AddPeers(5);
  for (int i : {1, 2, 3}) peers_[static_cast<size_t>(i)].responds = false;
  Start(secure::SecAggVariant::kFull, 0.2);
  Pump();
  EXPECT_TRUE(reports_.reports.empty());
  Tick(absl::Seconds(11));  // AdvertiseKeys times out with 2 of the 3 needed
  ASSERT_EQ(reports_.reports.size(), 1u);
  const RoundReport& r = reports_.reports[0];
  EXPECT_FALSE(r.completed);
  EXPECT_THAT(r.failure, ::testing::HasSubstr("secure aggregation aborted"));
  ExpectWeightsNear(std::vector<float>(model_size_, 1.0f));
  EXPECT_EQ(coord_->model_version(), 0u);
}

TEST_F(SecureRoundTest, PlainUpdateIsRefusedInASecureRound) {
  AddPeers(3);
  peers_[0].responds = false;  // keep the round open
  Start(secure::SecAggVariant::kFull, 0.4);
  Pump();
  protocol::Update u;
  u.round = 1;
  u.model_version = 0;
  u.client_id = peers_[1].id;
  u.num_examples = 10;
  u.delta.assign(model_size_, 0.5f);
  coord_->OnFrame(peers_[1].name, protocol::Encode(protocol::Message(u)), now_);
  Pump();
  EXPECT_THAT(errors_[peers_[1].name], ::testing::ElementsAre(ErrorCode::kMalformed));
}

TEST_F(SecureRoundTest, WrongRoundAndDuplicateSecAggMessagesAreRefused) {
  AddPeers(3);
  peers_[0].responds = false;
  Start(secure::SecAggVariant::kFull, 0.4);
  Pump();
  auto decoded = protocol::Decode(peers_[1].advertise);
  ASSERT_THAT(decoded, IsOk());
  protocol::SecAggToServer m = std::get<protocol::SecAggToServer>(*decoded);
  m.round = 7;
  coord_->OnFrame(peers_[1].name, protocol::Encode(protocol::Message(m)), now_);
  m.round = 1;  // right round, but peer 1 already advertised its keys
  coord_->OnFrame(peers_[1].name, protocol::Encode(protocol::Message(m)), now_);
  m.client_id = 999;  // not this connection's client
  coord_->OnFrame(peers_[1].name, protocol::Encode(protocol::Message(m)), now_);
  Pump();
  EXPECT_THAT(errors_[peers_[1].name],
              ::testing::ElementsAre(ErrorCode::kWrongRound, ErrorCode::kDuplicate,
                                     ErrorCode::kNotRegistered));
}

// Distributed DP (privacy/distributed_dp.h): every device adds discrete
// Gaussian noise of z * Delta / sqrt(t) words to its masked input; the sum of
// the survivors then carries sqrt(survivors / t) * z * Delta, at least
// z * Delta when only the threshold t survive. Here the deltas are zero, so
// the new model minus the old, times the expected cohort, is that noise
// alone: its standard deviation over 20,000 coordinates is checked to 3 %
// (a noise share off by 10 % fails), with one of five devices dropping out.
TEST_F(SecureRoundTest, DistributedNoiseKeepsItsLevelWhenAClientDropsOut) {
  model_size_ = 20000;
  AddPeers(5);
  for (Peer& p : peers_) p.delta.assign(model_size_, 0.0f);
  peers_[2].trains = false;
  privacy_.mode = protocol::PrivacyMode::kDistributed;
  privacy_.noise_multiplier = 0.8;
  privacy_.clip = 0.5;
  Start(secure::SecAggVariant::kFull, 0.4);
  Pump();
  Tick(absl::Seconds(61));  // the training deadline: peer 2 is a dropout
  ASSERT_EQ(reports_.reports.size(), 1u);
  const RoundReport& r = reports_.reports[0];
  ASSERT_TRUE(r.completed) << r.failure;
  EXPECT_EQ(r.aggregated, 4u);
  ASSERT_TRUE(r.privacy.has_value());
  EXPECT_GT(r.privacy->epsilon, 0);
  EXPECT_EQ(r.privacy->sampling_rate, 1.0);  // all five live clients sampled

  const protocol::Task task = TasksOf(peers_[0])[0];
  ASSERT_EQ(task.config.privacy.mode, protocol::PrivacyMode::kDistributed);
  // Calibrated to the fewest survivors the round may complete with:
  // ceil((1 - 0.4) * 5) = 3, at least the Shamir threshold.
  const double t = std::max<double>(3, task.secure.config.threshold);
  const double scale = task.secure.encoding.scale;
  const double sensitivity = scale * 0.5 + std::sqrt(20000.0) / 2;
  EXPECT_NEAR(task.config.privacy.noise_stddev, 0.8 * sensitivity / std::sqrt(t), 1e-6 * scale);

  double sum = 0, sum2 = 0;
  for (float w : coord_->weights()) {
    const double noise = (static_cast<double>(w) - 1.0) * 5.0;  // the sum, in update units
    sum += noise;
    sum2 += noise * noise;
  }
  const double n = static_cast<double>(model_size_);
  const double stddev = std::sqrt(sum2 / n - (sum / n) * (sum / n));
  const double want = 0.8 * sensitivity / scale * std::sqrt(4.0 / t);
  EXPECT_NEAR(stddev, want, 0.03 * want) << "threshold " << t;
  EXPECT_GE(stddev, 0.97 * 0.8 * 0.5);  // at least z * clip, as documented
  EXPECT_NEAR(sum / n, 0.0, 5 * want / std::sqrt(n));
}

// Fewer survivors than the noise is calibrated to: the round aborts before
// unmasking, so no sum with less noise is ever revealed, and the model stays.
TEST_F(SecureRoundTest, DistributedDpAbortsBelowItsSurvivorMinimum) {
  AddPeers(5);
  peers_[1].trains = false;
  peers_[3].trains = false;  // 3 of 5 survive; the minimum is ceil(0.8 * 5) = 4
  privacy_.mode = protocol::PrivacyMode::kDistributed;
  privacy_.noise_multiplier = 1.0;
  privacy_.clip = 0.5;
  Start(secure::SecAggVariant::kFull, 0.2);
  Pump();
  Tick(absl::Seconds(61));
  ASSERT_EQ(reports_.reports.size(), 1u);
  const RoundReport& r = reports_.reports[0];
  EXPECT_FALSE(r.completed);
  EXPECT_THAT(r.failure, ::testing::HasSubstr("3 masked inputs, fewer than the 4 survivors"));
  ExpectWeightsNear(std::vector<float>(model_size_, 1.0f));
  ASSERT_TRUE(r.privacy.has_value());  // a failed round is charged too
  EXPECT_GT(r.privacy->epsilon, 0);
}

TEST(SecureCoordinatorConfigTest, OneClientCannotAggregateSecurely) {
  CoordinatorConfig cfg;
  cfg.min_clients = 1;
  cfg.secure.enabled = true;
  protocol::ModelPayload model;
  model.manifest.tensors = {{"w", {2}, protocol::DType::kFloat32}};
  model.architecture_id = "builtin:mlp";
  model.weights = {0, 0};
  RecordingOutbox outbox;
  auto c = Coordinator::Create(cfg, model, &outbox, nullptr, nullptr, absl::Now());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fedge::coordinator
