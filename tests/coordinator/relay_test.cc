// Relay mode (a gateway's coordinator), sans I/O: a root with 3 gateways of
// 10 devices each makes the same model as the flat 30-device run, to float
// rounding, while the root receives 3 updates a round instead of 30; the
// devices get the root's model and signature unchanged and verify them with
// the root's key; a gateway whose round fails costs the root its sub-cohort
// only; tasks a gateway cannot relay are refused with the reason.

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/coordinator.h"
#include "protocol/model_signature.h"
#include "tests/coordinator/fakes.h"
#include "tests/testing/status_matchers.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

constexpr int kGateways = 3;
constexpr int kPerGateway = 10;
constexpr int kDevices = kGateways * kPerGateway;

// Device d's update in round r: distinct per device and round, with example
// counts far apart so a plain mean would differ from the weighted one.
std::vector<float> DeviceDelta(int d, uint64_t r) {
  std::vector<float> v(4);
  for (int i = 0; i < 4; ++i) {
    v[i] = 0.01f * static_cast<float>((d * 7 + i * 3 + static_cast<int>(r)) % 23) - 0.1f;
  }
  return v;
}
uint64_t DeviceExamples(int d) { return 50 + 37 * static_cast<uint64_t>(d % 11); }

std::shared_ptr<const protocol::ModelSigner> Signer() {
  auto s = protocol::ModelSigner::Create(std::vector<uint8_t>(32, 5));
  EXPECT_THAT(s, IsOk());
  return std::shared_ptr<const protocol::ModelSigner>(std::move(*s));
}

CoordinatorConfig RootConfig(uint32_t members) {
  CoordinatorConfig cfg;
  cfg.rounds = 2;
  cfg.min_clients = members;
  cfg.quorum = 1;
  cfg.round_timeout = absl::Seconds(60);
  cfg.missed_heartbeats = 1000;
  cfg.training.batch_size = 8;
  cfg.training.learning_rate = 0.05f;
  cfg.seed = 11;
  cfg.model_signer = Signer();
  return cfg;
}

class Sink : public RelaySink {
 public:
  void OnRelayDone(uint64_t round, absl::StatusOr<RelayResult> result) override {
    done.emplace_back(round, std::move(result));
  }
  std::vector<std::pair<uint64_t, absl::StatusOr<RelayResult>>> done;
};

std::string DevicePeer(int d) { return "dev" + std::to_string(d); }
std::string GatewayPeer(int g) { return "gw" + std::to_string(g); }

// Device `d` answers the newest task `box` holds for it.
void DeviceAnswers(Coordinator* c, const RecordingOutbox& box, int d, absl::Time now,
                   const protocol::ModelVerifier& verifier) {
  const auto tasks = box.To<protocol::Task>(DevicePeer(d));
  ASSERT_FALSE(tasks.empty()) << d;
  const protocol::Task& t = tasks.back();
  // What a device checks: the root's signature over the model it got.
  ASSERT_THAT(verifier.Verify(t.model_version, t.model, t.signature), IsOk()) << d;
  SendUpdate(*c, DevicePeer(d), t.round, t.model_version, d + 1, DeviceExamples(d),
             DeviceDelta(d, t.round), now);
}

TEST(RelayTest, ThreeGatewaysOfTenMakeTheFlatThirtyDeviceModel) {
  const absl::Time now = absl::FromUnixSeconds(5000);
  auto verifier = protocol::ModelVerifier::Create(Signer()->public_key());
  ASSERT_THAT(verifier, IsOk());

  // Flat: 30 devices on the root.
  RecordingOutbox flat_box;
  auto flat = Coordinator::Create(RootConfig(kDevices), TinyModel(), &flat_box, nullptr, nullptr,
                                  now);
  ASSERT_THAT(flat, IsOk());
  for (int d = 0; d < kDevices; ++d) {
    SendHello(**flat, DevicePeer(d), d + 1, DeviceExamples(d), now);
  }
  for (uint64_t r = 1; r <= 2; ++r) {
    for (int d = 0; d < kDevices; ++d) DeviceAnswers(flat->get(), flat_box, d, now, **verifier);
  }
  ASSERT_EQ((*flat)->completed_rounds(), 2u);

  // Hierarchical: the root sees 3 gateways; each gateway 10 devices.
  RecordingOutbox root_box;
  Reports root_reports;
  auto root = Coordinator::Create(RootConfig(kGateways), TinyModel(), &root_box, nullptr,
                                  &root_reports, now);
  ASSERT_THAT(root, IsOk());
  RecordingOutbox gw_box[kGateways];
  Sink sinks[kGateways];
  std::unique_ptr<Coordinator> gw[kGateways];
  for (int g = 0; g < kGateways; ++g) {
    CoordinatorConfig cfg;
    cfg.rounds = 1000;
    cfg.min_clients = kPerGateway;
    cfg.quorum = kPerGateway;
    cfg.missed_heartbeats = 1000;
    cfg.round_timeout = absl::Seconds(60);
    cfg.training.batch_size = 1;  // the root's settings replace these
    cfg.relay = &sinks[g];
    // No model until the root's first task brings it.
    auto made = Coordinator::Create(cfg, protocol::ModelPayload(), &gw_box[g], nullptr, nullptr,
                                    now);
    ASSERT_THAT(made, IsOk());
    gw[g] = *std::move(made);
    for (int k = 0; k < kPerGateway; ++k) {
      const int d = g * kPerGateway + k;
      SendHello(*gw[g], DevicePeer(d), d + 1, DeviceExamples(d), now);
    }
    EXPECT_EQ(gw[g]->phase(), Coordinator::Phase::kWaitingForClients);  // no root task yet
    SendHello(**root, GatewayPeer(g), 1000 + g, 1, now);
  }
  for (uint64_t r = 1; r <= 2; ++r) {
    ASSERT_EQ((*root)->round(), r);
    const uint64_t frames_before = (*root)->stats().frames_received;
    for (int g = 0; g < kGateways; ++g) {
      const protocol::Task root_task = root_box.To<protocol::Task>(GatewayPeer(g)).back();
      ASSERT_THAT(gw[g]->StartRelayRound(root_task, now), IsOk());
      for (int k = 0; k < kPerGateway; ++k) {
        const int d = g * kPerGateway + k;
        const protocol::Task t = gw_box[g].To<protocol::Task>(DevicePeer(d)).back();
        // The root's task, unchanged: round, version, model, settings, seed.
        EXPECT_EQ(t.round, root_task.round);
        EXPECT_EQ(t.model_version, root_task.model_version);
        EXPECT_EQ(t.model.weights, root_task.model.weights);
        EXPECT_EQ(t.config.seed, root_task.config.seed);
        EXPECT_EQ(t.config.learning_rate, root_task.config.learning_rate);
        DeviceAnswers(gw[g].get(), gw_box[g], d, now, **verifier);
      }
      ASSERT_EQ(sinks[g].done.size(), r);
      const auto& [round, result] = sinks[g].done.back();
      EXPECT_EQ(round, r);
      ASSERT_THAT(result, IsOk());
      uint64_t examples = 0;
      for (int k = 0; k < kPerGateway; ++k) examples += DeviceExamples(g * kPerGateway + k);
      EXPECT_EQ(result->num_examples, examples);
      EXPECT_EQ(result->devices, static_cast<uint32_t>(kPerGateway));
      // The gateway's update: its devices' mean, weighted by their count.
      SendUpdate(**root, GatewayPeer(g), root_task.round, root_task.model_version, 1000 + g,
                 result->num_examples, result->delta, now);
    }
    EXPECT_EQ((*root)->stats().frames_received - frames_before, 3u);  // 3 updates, not 30
  }
  ASSERT_EQ((*root)->completed_rounds(), 2u);
  ASSERT_EQ((*root)->model_version(), (*flat)->model_version());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR((*root)->weights()[i], (*flat)->weights()[i], 1e-6) << i;
  }
  EXPECT_NE((*root)->weights(), TinyModel().weights);  // it trained
}

TEST(RelayTest, AGatewayRoundThatFailsTellsTheRootAndTheNextTaskRuns) {
  const absl::Time now = absl::FromUnixSeconds(5000);
  Sink sink;
  RecordingOutbox box;
  CoordinatorConfig cfg;
  cfg.min_clients = 2;
  cfg.quorum = 2;
  cfg.round_timeout = absl::Seconds(10);
  cfg.training.batch_size = 1;
  cfg.relay = &sink;
  auto gw = Coordinator::Create(cfg, TinyModel(), &box, nullptr, nullptr, now);
  ASSERT_THAT(gw, IsOk());
  protocol::Task task;
  task.round = 7;
  task.model_version = 6;
  task.model = TinyModel();
  task.config.batch_size = 4;
  task.config.learning_rate = 0.1f;
  task.config.local_epochs = 1;
  task.deadline_ms = 5000;
  // Only one device registered: the round cannot start before the root's
  // deadline, and the root is told.
  SendHello(**gw, "a", 1, 10, now);
  ASSERT_THAT((*gw)->StartRelayRound(task, now), IsOk());
  EXPECT_EQ((*gw)->NextDeadline(now), now + absl::Seconds(1));  // a heartbeat away first
  (*gw)->OnTick(now + absl::Seconds(5));
  ASSERT_EQ(sink.done.size(), 1u);
  EXPECT_EQ(sink.done[0].first, 7u);
  EXPECT_THAT(sink.done[0].second, StatusIs(absl::StatusCode::kUnavailable,
                                            "--min_clients 2 needed before the root's deadline"));
  // Two devices; a round the devices leave fails below the quorum.
  SendHello(**gw, "b", 2, 10, now);
  task.round = 8;
  ASSERT_THAT((*gw)->StartRelayRound(task, now + absl::Seconds(6)), IsOk());
  EXPECT_EQ((*gw)->phase(), Coordinator::Phase::kTraining);
  EXPECT_EQ(box.To<protocol::Task>("a").back().round, 8u);
  // The root moves on before it ends: round 8 fails, round 9 runs.
  task.round = 9;
  ASSERT_THAT((*gw)->StartRelayRound(task, now + absl::Seconds(7)), IsOk());
  ASSERT_EQ(sink.done.size(), 2u);
  EXPECT_EQ(sink.done[1].first, 8u);
  EXPECT_FALSE(sink.done[1].second.ok());
  EXPECT_EQ(box.To<protocol::Task>("b").back().round, 9u);
}

TEST(RelayTest, TasksAGatewayCannotRelayAreRefusedWithTheReason) {
  const absl::Time now = absl::FromUnixSeconds(5000);
  Sink sink;
  RecordingOutbox box;
  CoordinatorConfig cfg;
  cfg.training.batch_size = 1;
  cfg.relay = &sink;
  auto gw = Coordinator::Create(cfg, TinyModel(), &box, nullptr, nullptr, now);
  ASSERT_THAT(gw, IsOk());
  protocol::Task task;
  task.round = 1;
  task.model = TinyModel();
  protocol::Task malformed = task;
  malformed.model.weights.pop_back();  // the manifest says 4
  EXPECT_THAT((*gw)->StartRelayRound(malformed, now),
              StatusIs(absl::StatusCode::kInvalidArgument, "cannot be relayed"));
  protocol::Task unknown = task;
  unknown.model.architecture_id = "builtin:cnn";
  unknown.model.architecture.clear();
  EXPECT_THAT((*gw)->StartRelayRound(unknown, now),
              StatusIs(absl::StatusCode::kInvalidArgument, "which this gateway does not hold"));
  protocol::Task scaffold = task;
  scaffold.control = {0, 0, 0, 0};
  EXPECT_THAT((*gw)->StartRelayRound(scaffold, now),
              StatusIs(absl::StatusCode::kInvalidArgument, "SCAFFOLD"));
  protocol::Task secure = task;
  secure.secure.enabled = true;
  EXPECT_THAT((*gw)->StartRelayRound(secure, now),
              StatusIs(absl::StatusCode::kInvalidArgument, "secure aggregation"));
  EXPECT_TRUE(sink.done.empty());
  // And a gateway's own strategy would break hierarchical = flat.
  cfg.strategy.name = "median";
  EXPECT_THAT(Coordinator::Create(cfg, TinyModel(), &box, nullptr, nullptr, now),
              StatusIs(absl::StatusCode::kInvalidArgument, "not available on a gateway"));
}

}  // namespace
}  // namespace fedge::coordinator
