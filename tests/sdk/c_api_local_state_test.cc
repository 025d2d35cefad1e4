// The device SDK keeps its strategy state across check-ins and restarts
// (client/sdk/device_state.h, local-state.fls in the storage directory):
// SCAFFOLD's c_i against the in-process fake coordinator (each step and
// value under the test's control) and against a real coordinator running
// --strategy=scaffold in-process; FedBN's own normalisation values in the
// device's offline predictions after a restart.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "base/file_system.h"
#include "client/local_state.h"
#include "client/local_state_store.h"
#include "libtorch/model_export.h"
#include "client/trainer.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_server.h"
#include "fedge/fedge_client.h"
#include "tests/sdk/fake_coordinator.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

constexpr int kPixels = 28 * 28;
constexpr uint64_t kClientId = 3;

// 64 images (a class's bright band of rows plus noise) with class labels.
struct Images {
  int next = 0;
  static int Next(void* user, float* images, float* labels, int max, int* n) {
    auto* d = static_cast<Images*>(user);
    const int take = std::min(max, 64 - d->next);
    for (int i = 0; i < take; ++i) {
      const int example = d->next + i;
      std::mt19937 rng(static_cast<uint32_t>(example));
      const int label = example % 10;
      for (int k = 0; k < kPixels; ++k) {
        const bool band = k / 28 >= 2 * label && k / 28 < 2 * label + 3;
        images[i * kPixels + k] = band ? 0.8f : (rng() % 64) / 255.0f;
      }
      labels[i] = static_cast<float>(label);
    }
    d->next += take;
    *n = take;
    return 0;
  }
  static int Reset(void* user) {
    static_cast<Images*>(user)->next = 0;
    return 0;
  }
};

class CApiLocalStateTest : public ::testing::Test {
 protected:
  // A device storing in `name` under the test's directory.
  fedge_client* Create(const std::string& endpoint, const std::string& name) {
    endpoints_.push_back(std::make_unique<std::string>(endpoint));
    stores_.push_back(std::make_unique<std::string>(dir_.File(name)));
    fedge_config c;
    fedge_config_init(&c);
    c.coordinator_endpoint = endpoints_.back()->c_str();
    c.insecure = 1;
    c.storage_dir = stores_.back()->c_str();
    c.client_id = kClientId;
    c.data.user = &data_;
    c.data.reset = Images::Reset;
    c.data.next_batch = Images::Next;
    c.data.example_rank = 3;
    c.data.example_shape[0] = 1;
    c.data.example_shape[1] = 28;
    c.data.example_shape[2] = 28;
    c.data.target_size = 1;
    fedge_client* client = nullptr;
    EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_OK) << fedge_last_error();
    return client;
  }

  // The state the device `name` saved; empty when it saved none.
  client::LocalState Saved(const std::string& name) {
    client::LocalStateStore store(dir_.File(name), kClientId, PosixFileSystem::Default());
    absl::StatusOr<std::optional<client::LocalState>> s = store.Load();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->value_or(client::LocalState()) : client::LocalState();
  }

  std::string SavedBytes(const std::string& name) {
    absl::StatusOr<std::string> bytes = PosixFileSystem::Default()->ReadFile(
        dir_.File(name + "/" + client::LocalStateStore::kFileName), 1 << 30);
    return bytes.ok() ? *bytes : std::string();
  }

  testing::TempDir dir_;
  std::vector<std::unique_ptr<std::string>> endpoints_, stores_;
  Images data_;
};

// One check-in with a task, played by the fake coordinator: the device's
// update, answered as accepted (RetryLater) or refused (an ErrorReply naming
// its round first, as a coordinator refuses a late update).
std::optional<protocol::Update> CheckIn(fedge_client* client, FakeCoordinator& coordinator,
                                        const protocol::Task& task, bool refuse = false,
                                        fedge_run_report* report = nullptr) {
  BackgroundRun run(client, 120000);
  std::string peer;
  std::optional<protocol::Hello> hello =
      coordinator.NextOf<protocol::Hello>(absl::Seconds(30), &peer);
  EXPECT_TRUE(hello.has_value());
  if (!hello) return std::nullopt;
  coordinator.Send(peer, protocol::Welcome{hello->client_id, 1000, task.model_version});
  coordinator.Send(peer, task);
  std::optional<protocol::Update> update =
      coordinator.NextOf<protocol::Update>(absl::Seconds(120));
  EXPECT_TRUE(update.has_value());
  if (refuse) {
    coordinator.Send(peer, protocol::ErrorReply{protocol::ErrorCode::kWrongRound, task.round,
                                                "round closed before this update"});
  }
  coordinator.Send(peer, protocol::RetryLater{1000, 1000, "update handled"});
  run.Join();
  EXPECT_EQ(run.status, FEDGE_OK) << run.error;
  EXPECT_EQ(run.report.uploaded, 1);
  if (report != nullptr) *report = run.report;
  return update;
}

protocol::ModelPayload Mlp() {
  absl::StatusOr<protocol::ModelPayload> m =
      client::MakeInitialModel("mlp", 1, protocol::FashionMnistTask());
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

// Round `round` of a SCAFFOLD federation with this one device, as a server
// would send it: the model and c moved by the previous rounds' updates.
protocol::Task ScaffoldTask(uint64_t round, protocol::ModelPayload model, std::vector<float> c) {
  protocol::Task t;
  t.round = round;
  t.model_version = round;
  t.model = std::move(model);
  t.config.batch_size = 16;
  t.config.learning_rate = 0.05f;
  t.config.seed = round;
  t.control = std::move(c);
  return t;
}

protocol::Task Next(const protocol::Task& t, const protocol::Update& u) {
  protocol::Task next = t;
  ++next.round;
  ++next.model_version;
  next.config.seed = next.round;
  for (size_t i = 0; i < u.delta.size(); ++i) {
    next.model.weights[i] += u.delta[i];
    next.control[i] += u.control_delta[i];  // N = 1: c += mean of the changes
  }
  return next;
}

std::vector<float> Sum(const std::vector<std::vector<float>>& parts) {
  std::vector<float> s(parts.at(0).size(), 0.0f);
  for (const auto& p : parts) {
    for (size_t i = 0; i < s.size(); ++i) s[i] += p[i];  // the device's order
  }
  return s;
}

TEST_F(CApiLocalStateTest, ScaffoldControlVariateSurvivesCheckInsAndARestart) {
  FakeCoordinator coordinator;
  const protocol::ModelPayload mlp = Mlp();
  const protocol::Task r1 = ScaffoldTask(1, mlp, std::vector<float>(mlp.weights.size(), 0.0f));

  // Device A: two check-ins; its file holds c_i = the sum of its changes.
  fedge_client* a = Create(coordinator.endpoint(), "a");
  std::optional<protocol::Update> a1 = CheckIn(a, coordinator, r1);
  ASSERT_TRUE(a1.has_value());
  ASSERT_EQ(a1->control_delta.size(), mlp.weights.size());
  EXPECT_EQ(Saved("a").control, a1->control_delta);
  const protocol::Task r2 = Next(r1, *a1);
  std::optional<protocol::Update> a2 = CheckIn(a, coordinator, r2);
  ASSERT_TRUE(a2.has_value());
  EXPECT_EQ(Saved("a").control, Sum({a1->control_delta, a2->control_delta}));
  // Restarted (a new process would do the same): round 3 from the saved c_i.
  fedge_client_destroy(a);
  a = Create(coordinator.endpoint(), "a");
  const protocol::Task r3 = Next(r2, *a2);
  std::optional<protocol::Update> a3 = CheckIn(a, coordinator, r3);
  ASSERT_TRUE(a3.has_value());
  EXPECT_EQ(Saved("a").control,
            Sum({a1->control_delta, a2->control_delta, a3->control_delta}));
  fedge_client_destroy(a);

  // Device B, never restarted, sends exactly what A sent.
  fedge_client* b = Create(coordinator.endpoint(), "b");
  std::optional<protocol::Update> b1 = CheckIn(b, coordinator, r1);
  std::optional<protocol::Update> b2 = CheckIn(b, coordinator, r2);
  std::optional<protocol::Update> b3 = CheckIn(b, coordinator, r3);
  ASSERT_TRUE(b1 && b2 && b3);
  EXPECT_EQ(b1->control_delta, a1->control_delta);
  EXPECT_EQ(b2->control_delta, a2->control_delta);
  EXPECT_EQ(b3->control_delta, a3->control_delta);
  EXPECT_EQ(b3->delta, a3->delta);
  fedge_client_destroy(b);

  // Device C starts at round 2 with c_i = 0, as every device did before
  // its state was kept: it sends something else.
  fedge_client* c = Create(coordinator.endpoint(), "c");
  std::optional<protocol::Update> c2 = CheckIn(c, coordinator, r2);
  ASSERT_TRUE(c2.has_value());
  EXPECT_NE(c2->control_delta, a2->control_delta);
  EXPECT_NE(c2->delta, a2->delta);
  fedge_client_destroy(c);
}

// Local DP on a device (docs/privacy.md): the upload is the clipped delta
// plus Gaussian noise on every value, no training metrics leave the device,
// and the run report tells the firmware what the task asked.
TEST_F(CApiLocalStateTest, LocalDpTaskIsReportedAndItsUploadClippedAndNoised) {
  const protocol::ModelPayload mlp = Mlp();
  // Without DP the report says so, and the training uploads its raw delta,
  // with its loss. Training is deterministic, so the DP run below trains
  // this same delta.
  FakeCoordinator plain;
  fedge_client* device = Create(plain.endpoint(), "plain");
  fedge_run_report report{};
  std::optional<protocol::Update> raw =
      CheckIn(device, plain, ScaffoldTask(1, mlp, {}), false, &report);
  fedge_client_destroy(device);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(report.dp_mode, FEDGE_DP_OFF);
  EXPECT_TRUE(std::isfinite(raw->metrics.loss));

  // The clip is half the raw delta's norm, so it bites, and the noise is
  // small enough for a missing clip to show: its energy (d sigma^2) is a
  // quarter of what an unclipped delta would leave over (norm^2 / 4).
  double norm2 = 0;
  for (float v : raw->delta) norm2 += double{v} * v;
  ASSERT_GT(norm2, 0);
  const float clip = static_cast<float>(std::sqrt(norm2) / 2);
  const double sigma =
      std::sqrt(norm2) / (4 * std::sqrt(static_cast<double>(raw->delta.size())));
  FakeCoordinator coordinator;
  protocol::Task task = ScaffoldTask(1, mlp, {});
  task.config.privacy = {protocol::PrivacyMode::kLocal, clip, sigma};
  device = Create(coordinator.endpoint(), "dp");
  std::optional<protocol::Update> u = CheckIn(device, coordinator, task, false, &report);
  fedge_client_destroy(device);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(report.dp_mode, FEDGE_DP_LOCAL);
  EXPECT_FLOAT_EQ(static_cast<float>(report.dp_clip), clip);
  EXPECT_DOUBLE_EQ(report.dp_noise_stddev, sigma);
  EXPECT_TRUE(std::isnan(u->metrics.loss));
  ASSERT_EQ(u->delta.size(), raw->delta.size());
  // The upload is the raw delta scaled to norm `clip` plus noise: what is
  // left after taking the clipped delta away has mean 0 and variance
  // sigma^2 (over 199,210 values the mean's standard error is sigma / 446
  // and the variance's 0.32 %; the bounds are about 6 of them). Unclipped,
  // the variance would come out 5 sigma^2.
  const double scale = 0.5;
  const double d = static_cast<double>(u->delta.size());
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < u->delta.size(); ++i) {
    const double noise = double{u->delta[i]} - scale * raw->delta[i];
    sum += noise;
    sum2 += noise * noise;
  }
  EXPECT_NEAR(sum / d, 0.0, 6 * sigma / std::sqrt(d));
  EXPECT_NEAR(sum2 / d, sigma * sigma, 0.02 * sigma * sigma);
}

TEST_F(CApiLocalStateTest, RefusedUpdateLeavesTheControlVariateAsItWas) {
  FakeCoordinator coordinator;
  const protocol::ModelPayload mlp = Mlp();
  const protocol::Task r1 = ScaffoldTask(1, mlp, std::vector<float>(mlp.weights.size(), 0.0f));
  fedge_client* device = Create(coordinator.endpoint(), "d");
  std::optional<protocol::Update> u1 = CheckIn(device, coordinator, r1);
  ASSERT_TRUE(u1.has_value());
  const std::string after_round_1 = SavedBytes("d");
  ASSERT_FALSE(after_round_1.empty());

  const protocol::Task r2 = Next(r1, *u1);
  std::optional<protocol::Update> refused = CheckIn(device, coordinator, r2, /*refuse=*/true);
  ASSERT_TRUE(refused.has_value());
  // c_i+ of the refused update not kept (compared whole, not printed).
  EXPECT_TRUE(SavedBytes("d") == after_round_1);
  // Nor in memory: the round again, accepted, sends the same as the first
  // time and then keeps it.
  std::optional<protocol::Update> again = CheckIn(device, coordinator, r2);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->control_delta, refused->control_delta);
  EXPECT_EQ(Saved("d").control, Sum({u1->control_delta, again->control_delta}));
  fedge_client_destroy(device);
}

// ---- Against a real coordinator ---------------------------------------------------

// The server's c at the end of each round (SCAFFOLD's control variate is in
// every checkpoint).
class ControlSink final : public coordinator::CheckpointSink {
 public:
  absl::Status Save(const coordinator::CoordinatorSnapshot& s,
                    const coordinator::RoundReport&,
                    absl::Span<const coordinator::RoundReport>) override {
    absl::MutexLock lock(&mu_);
    if (s.completed_rounds > 0) by_round_.resize(s.completed_rounds, s.control_variate);
    return absl::OkStatus();
  }
  // c after `rounds` completed rounds; nullopt if that takes over 60 s.
  std::optional<std::vector<float>> After(size_t rounds) {
    absl::MutexLock lock(&mu_);
    auto reached = [&] { return by_round_.size() >= rounds; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(60))) return std::nullopt;
    return by_round_[rounds - 1];
  }

 private:
  absl::Mutex mu_;
  std::vector<std::vector<float>> by_round_;
};

TEST_F(CApiLocalStateTest, AgainstARealScaffoldCoordinatorTheDevicesCiFollowsTheServersC) {
  absl::StatusOr<std::unique_ptr<coordinator::CoordinatorServer>> server =
      coordinator::CoordinatorServer::Create("tcp://127.0.0.1:*", 64 << 20);
  ASSERT_TRUE(server.ok()) << server.status();
  coordinator::CoordinatorConfig config;
  config.rounds = 3;
  config.clients_per_round = 1;
  config.round_timeout = absl::Seconds(60);
  config.strategy.name = "scaffold";
  config.training.batch_size = 16;
  config.training.learning_rate = 0.05f;
  ControlSink sink;
  config.checkpoint_sink = &sink;
  absl::StatusOr<std::unique_ptr<coordinator::Coordinator>> coord = coordinator::Coordinator::Create(
      config, Mlp(), (*server)->outbox(), nullptr, nullptr, absl::Now());
  ASSERT_TRUE(coord.ok()) << coord.status();
  std::thread serving([&] { (*server)->Serve(coord->get()).IgnoreError(); });
  absl::Cleanup stop = [&] {
    (*server)->Stop();
    serving.join();
  };

  fedge_client* device = Create((*server)->endpoint(), "real");
  for (size_t round = 1; round <= 2; ++round) {
    SCOPED_TRACE(round);
    fedge_run_report report;
    ASSERT_EQ(fedge_client_run_once(device, 120000, &report), FEDGE_OK) << fedge_last_error();
    EXPECT_EQ(report.round, round);
    std::optional<std::vector<float>> c = sink.After(round);
    ASSERT_TRUE(c.has_value());
    // With one device in the federation, c = (1/1) x the sum of its changes
    // = its c_i: the c_i the device kept is the one the server counts.
    const std::vector<float> ci = Saved("real").control;
    ASSERT_EQ(ci.size(), c->size());
    double diff = 0, norm = 0;
    for (size_t i = 0; i < ci.size(); ++i) {
      diff = std::max(diff, std::abs(static_cast<double>(ci[i]) - (*c)[i]));
      norm = std::max(norm, std::abs(static_cast<double>(ci[i])));
    }
    EXPECT_GT(norm, 0.0);
    EXPECT_LE(diff, 1e-6 * std::max(1.0, norm));
  }
  fedge_client_destroy(device);
}

// ---- FedBN ------------------------------------------------------------------------

// examples/export_torchscript.py --batchnorm (the torchscript CTest fixture).
std::optional<protocol::ModelPayload> SmallBnNet(uint64_t seed) {
  const char* path = std::getenv("FEDGE_TEST_TORCHSCRIPT_BN");
  if (path == nullptr) return std::nullopt;
  absl::StatusOr<protocol::ModelPayload> m =
      client::MakeInitialModel(path, seed, protocol::FashionMnistTask());
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::optional<protocol::ModelPayload>(*std::move(m)) : std::nullopt;
}

std::vector<float> Predict(fedge_client* client, const std::vector<float>& x) {
  std::vector<float> out(x.size() / kPixels * 10, 0.0f);
  EXPECT_EQ(fedge_model_predict(client, static_cast<int>(x.size() / kPixels), x.data(), x.size(),
                                out.data(), out.size()),
            FEDGE_OK)
      << fedge_last_error();
  return out;
}

std::vector<float> PredictWith(const protocol::ModelPayload& model, const std::vector<float>& x) {
  absl::StatusOr<std::unique_ptr<client::Predictor>> p = client::Predictor::FromModel(model);
  EXPECT_TRUE(p.ok()) << p.status();
  std::vector<float> out(x.size() / kPixels * 10, 0.0f);
  if (p.ok()) {
    EXPECT_TRUE((*p)->Predict(x, x.size() / kPixels, absl::MakeSpan(out)).ok());
  }
  return out;
}

TEST_F(CApiLocalStateTest, FedBnDevicePredictsWithItsOwnNormalisationAfterARestart) {
  std::optional<protocol::ModelPayload> v5 = SmallBnNet(1);
  ASSERT_TRUE(v5.has_value()) << "FEDGE_TEST_TORCHSCRIPT_BN not set";
  FakeCoordinator coordinator;
  protocol::Task task;
  task.round = 1;
  task.model_version = 5;
  task.model = *v5;
  task.config.batch_size = 16;
  task.config.local_normalization = true;
  fedge_client* device = Create(coordinator.endpoint(), "bn");
  std::optional<protocol::Update> update = CheckIn(device, coordinator, task);
  ASSERT_TRUE(update.has_value());

  const client::LocalState own = Saved("bn");
  EXPECT_TRUE(own.local_normalization);
  EXPECT_FALSE(own.normalization.empty());
  protocol::ModelPayload mine = *v5;
  ASSERT_TRUE(client::OverlayLocalNormalization(own, &mine));
  uint64_t offset = 0;
  for (const protocol::TensorSpec& t : v5->manifest.tensors) {
    for (uint64_t i = offset; i < offset + t.NumElements() && t.normalization; ++i) {
      EXPECT_EQ(update->delta[i], 0.0f) << t.name;  // not uploaded
    }
    offset += t.NumElements();
  }

  std::vector<float> x(4 * kPixels);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) / 97.0f;
  const std::vector<float> before = Predict(device, x);
  fedge_client_destroy(device);
  device = Create(coordinator.endpoint(), "bn");  // a restart
  const std::vector<float> after = Predict(device, x);
  EXPECT_EQ(after, before);
  EXPECT_EQ(after, PredictWith(mine, x));  // the stored model with the device's layers
  EXPECT_NE(after, PredictWith(*v5, x));   // not the global statistics

  // A newer global model (check-in, not selected): still the device's own
  // layers over it.
  std::optional<protocol::ModelPayload> v6 = SmallBnNet(2);
  ASSERT_TRUE(v6.has_value());
  BackgroundRun run(device, 60000);
  std::string peer;
  ASSERT_TRUE(coordinator.NextOf<protocol::Hello>(absl::Seconds(30), &peer).has_value());
  coordinator.Send(peer, protocol::Welcome{kClientId, 1000, 6});
  coordinator.Send(peer, protocol::GlobalModel{6, *v6, {}});
  coordinator.Send(peer, protocol::RetryLater{1000, 1000, "not selected"});
  run.Join();
  EXPECT_EQ(run.status, FEDGE_ERR_RETRY_LATER) << run.error;
  EXPECT_EQ(run.report.stored_model_version, 6u);
  protocol::ModelPayload mine6 = *v6;
  ASSERT_TRUE(client::OverlayLocalNormalization(own, &mine6));
  EXPECT_EQ(Predict(device, x), PredictWith(mine6, x));
  fedge_client_destroy(device);
}

}  // namespace
}  // namespace fedge
