// Gateway inference on real processes: devices call fedge_gateway_predict
// (the C API) against a real fedge-gateway and get its model's outputs; with
// the gateway SIGKILLed they fall back to their own stored model (or say
// there is none), stop waiting on it, and reach it again once it is back on
// its endpoint. A gateway keeps the root's verified models in --model_dir
// and serves the newest after a restart.

#include <csignal>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/file_system.h"
#include "client/model_store.h"
#include "client/trainer.h"
#include "fedge/fedge_client.h"
#include "libtorch/model_export.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/temp_dir.h"

namespace fedge::testing {
namespace {

constexpr size_t kInput = 28 * 28;
constexpr size_t kOutput = 10;

protocol::ModelPayload Model(uint64_t seed) {
  absl::StatusOr<protocol::ModelPayload> m =
      client::MakeInitialModel("mlp", seed, protocol::FashionMnistTask());
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

// Writes `model` as version `version` of the model store in `dir` (unsigned:
// the test runs --insecure without a signing key).
void Store(const std::string& dir, uint64_t version, const protocol::ModelPayload& model) {
  absl::StatusOr<std::unique_ptr<client::ModelStore>> store =
      client::ModelStore::Open(dir, PosixFileSystem::Default(), nullptr);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Commit(version, model, "").ok());
}

// The newest model in the store in `dir`.
std::shared_ptr<const client::StoredModel> Newest(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<client::ModelStore>> store =
      client::ModelStore::Open(dir, PosixFileSystem::Default(), nullptr);
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return nullptr;
  absl::StatusOr<std::shared_ptr<const client::StoredModel>> m = (*store)->Current();
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

std::vector<float> Reference(const protocol::ModelPayload& model, const std::vector<float>& in,
                             size_t n) {
  absl::StatusOr<std::unique_ptr<client::Predictor>> p = client::Predictor::FromModel(model);
  EXPECT_TRUE(p.ok()) << p.status();
  std::vector<float> out(n * kOutput);
  EXPECT_TRUE((*p)->Predict(in, n, absl::MakeSpan(out)).ok());
  return out;
}

std::vector<float> Images(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> v(n * kInput);
  for (float& x : v) x = u(rng);
  return v;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << i;
}

// An insecure device talking to `endpoint` with its store in `dir`.
struct Device {
  fedge_client* client = nullptr;
  Device(const std::string& endpoint, const std::string& dir, uint64_t id) {
    fedge_config config;
    fedge_config_init(&config);
    config.coordinator_endpoint = endpoint.c_str();
    config.insecure = 1;
    config.storage_dir = dir.c_str();
    config.client_id = id;
    EXPECT_EQ(fedge_client_create(&config, &client), FEDGE_OK) << fedge_last_error();
  }
  ~Device() { fedge_client_destroy(client); }
  fedge_status Predict(const std::vector<float>& in, size_t n, std::vector<float>* out,
                       int64_t timeout_ms, fedge_predict_report* report) {
    out->assign(n * kOutput, -1);
    return fedge_gateway_predict(client, int(n), in.data(), in.size(), out->data(), out->size(),
                                 timeout_ms, report);
  }
};

TEST(GatewayInferenceTest, DevicesGetTheGatewaysPredictionsAndFallBackWhenItDies) {
  TempDir dir;
  CapturedOutput log(dir.File("all.log"));
  const protocol::ModelPayload served = Model(3);  // the gateway's, version 4
  const protocol::ModelPayload own = Model(5);     // device B's own, version 2
  Store(dir.File("gateway"), 4, served);
  Store(dir.File("b"), 2, own);
  // No root listens there: the gateway serves from its store.
  const std::vector<std::string> flags = {"--insecure", "--root=ipc://" + dir.File("no-root"),
                                          "--gateway_id=7", "--model_dir=" + dir.File("gateway")};
  std::string endpoint;
  sim::Subprocess gateway = StartGateway("tcp://127.0.0.1:*", flags, &endpoint, log.fd());
  ASSERT_FALSE(endpoint.empty()) << log.Read();

  Device a(endpoint, dir.File("a"), 1);  // holds no model
  Device b(endpoint, dir.File("b"), 2);
  const std::vector<float> in = Images(3, 1);
  std::vector<float> out;
  fedge_predict_report report;
  ASSERT_EQ(a.Predict(in, 3, &out, 30000, &report), FEDGE_OK) << fedge_last_error() << log.Read();
  EXPECT_EQ(report.source, FEDGE_PREDICTED_BY_GATEWAY);
  EXPECT_EQ(report.model_version, 4u);
  EXPECT_EQ(report.output_size, int64_t(kOutput));
  EXPECT_EQ(report.gateway_status, FEDGE_OK);
  ExpectNear(out, Reference(served, in, 3));
  // B holds a model of its own but asks the gateway, which answers with its.
  ASSERT_EQ(b.Predict(in, 3, &out, 30000, &report), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(report.source, FEDGE_PREDICTED_BY_GATEWAY);
  ExpectNear(out, Reference(served, in, 3));
  // Inputs of the wrong size are the caller's error: refused, no fallback.
  std::vector<float> short_in(2 * (kInput - 1), 0.5f);
  out.assign(2 * kOutput, 0);
  EXPECT_EQ(fedge_gateway_predict(b.client, 2, short_in.data(), short_in.size(), out.data(),
                                  out.size(), 30000, &report),
            FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(fedge_last_error(), ::testing::HasSubstr("784 floats per example"));
  EXPECT_EQ(report.gateway_status, FEDGE_ERR_INVALID_ARGUMENT);

  gateway.Kill(SIGKILL);
  ASSERT_TRUE(gateway.Wait(absl::Seconds(10)).has_value());
  // B falls back to its own model once the gateway stays silent...
  ASSERT_EQ(b.Predict(in, 3, &out, 300, &report), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(report.source, FEDGE_PREDICTED_ON_DEVICE);
  EXPECT_EQ(report.model_version, 2u);
  EXPECT_EQ(report.gateway_status, FEDGE_ERR_TIMEOUT);
  ExpectNear(out, Reference(own, in, 3));
  // ...and then stops asking it for a while.
  ASSERT_EQ(b.Predict(in, 3, &out, 300, &report), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(report.source, FEDGE_PREDICTED_ON_DEVICE);
  EXPECT_EQ(report.gateway_status, FEDGE_ERR_UNAVAILABLE);
  EXPECT_THAT(report.gateway_message, ::testing::HasSubstr("not asked"));
  // A has nothing to fall back on: the gateway's error, saying so.
  EXPECT_EQ(a.Predict(in, 3, &out, 300, &report), FEDGE_ERR_TIMEOUT);
  EXPECT_THAT(fedge_last_error(), ::testing::HasSubstr("no stored model to fall back on"));

  // Back on the same endpoint, from its store: B reaches it again once its
  // back-off (1 s, then 2 s) has passed.
  std::string again;
  sim::Subprocess gateway2 = StartGateway(endpoint, flags, &again, log.fd());
  ASSERT_EQ(again, endpoint);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  bool reached = false;
  while (!reached && absl::Now() < deadline) {
    ASSERT_EQ(b.Predict(in, 3, &out, 2000, &report), FEDGE_OK) << fedge_last_error();
    reached = report.source == FEDGE_PREDICTED_BY_GATEWAY;
  }
  ASSERT_TRUE(reached) << log.Read();
  EXPECT_EQ(report.model_version, 4u);
  ExpectNear(out, Reference(served, in, 3));
  gateway2.Kill(SIGTERM);
  EXPECT_TRUE(Finish(gateway2, absl::Seconds(30)).ok()) << log.Read();
}

TEST(GatewayInferenceTest, AGatewayServesTheRootsModelAndKeepsItAcrossARestart) {
  TempDir dir;
  CapturedOutput log(dir.File("all.log"));
  std::string root;
  sim::Subprocess coordinator = StartCoordinator(
      "tcp://127.0.0.1:*",
      {"--insecure", "--model=mlp", "--rounds=2", "--min_clients=1", "--max_examples=200",
       "--heartbeat_interval=200ms", "--quiet"},
      &root, -1, log.fd());
  std::vector<std::string> flags = {"--insecure", "--root=" + root, "--gateway_id=9",
                                          "--heartbeat_interval=200ms",
                                          "--model_dir=" + dir.File("gateway")};
  std::string endpoint;
  sim::Subprocess gateway = StartGateway("tcp://127.0.0.1:*", flags, &endpoint, log.fd());
  sim::Subprocess device = StartClient(
      {"--insecure", "--coordinator=" + endpoint, "--client_ids=0", "--coordinator_timeout=2s"},
      log.fd());
  for (sim::Subprocess* p : {&coordinator, &gateway, &device}) {
    sim::ExitInfo e = Finish(*p, absl::Minutes(3));
    EXPECT_TRUE(e.ok()) << e.ToString() << "\n" << log.Read();
  }
  // The gateway kept the model of the root's last task to it: version 1 of
  // a 2-round run (rounds train versions 0 and 1).
  std::shared_ptr<const client::StoredModel> kept_model = Newest(dir.File("gateway"));
  ASSERT_NE(kept_model, nullptr) << log.Read();
  const uint64_t newest = kept_model->version;
  const protocol::ModelPayload& kept = kept_model->payload;
  EXPECT_EQ(newest, 1u);
  // Restarted with no root at all, it serves that model.
  flags[1] = "--root=ipc://" + dir.File("no-root");
  sim::Subprocess again = StartGateway("tcp://127.0.0.1:*", flags, &endpoint, log.fd());
  Device d(endpoint, dir.File("d"), 1);
  const std::vector<float> in = Images(2, 2);
  std::vector<float> out;
  fedge_predict_report report;
  ASSERT_EQ(d.Predict(in, 2, &out, 30000, &report), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(report.source, FEDGE_PREDICTED_BY_GATEWAY);
  EXPECT_EQ(report.model_version, newest);
  ExpectNear(out, Reference(kept, in, 2));
  again.Kill(SIGTERM);
  EXPECT_TRUE(Finish(again, absl::Seconds(30)).ok()) << log.Read();
}

TEST(GatewayInferenceTest, ARootCoordinatorRefusesPredictionsAndTheDeviceFallsBack) {
  TempDir dir;
  CapturedOutput log(dir.File("all.log"));
  std::string root;
  sim::Subprocess coordinator = StartCoordinator(
      "tcp://127.0.0.1:*", {"--insecure", "--model=mlp", "--rounds=1", "--min_clients=5",
                            "--round_timeout=60s", "--quiet"},
      &root, -1, log.fd());
  const protocol::ModelPayload own = Model(5);
  Store(dir.File("b"), 1, own);
  Device b(root, dir.File("b"), 2);
  const std::vector<float> in = Images(1, 3);
  std::vector<float> out;
  fedge_predict_report report;
  ASSERT_EQ(b.Predict(in, 1, &out, 30000, &report), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(report.source, FEDGE_PREDICTED_ON_DEVICE);
  EXPECT_EQ(report.gateway_status, FEDGE_ERR_UNAVAILABLE);
  EXPECT_THAT(report.gateway_message, ::testing::HasSubstr("serves no predictions"));
  ExpectNear(out, Reference(own, in, 1));
  coordinator.Kill(SIGKILL);
  coordinator.Wait(absl::Seconds(10));
}

TEST(GatewayInferenceTest, ImpossibleInferenceFlagsAreUsageErrors) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--nopredictions", "--predict_max_batch=8"},
       "--predict_max_batch has no effect with --nopredictions"},
      {{"--predict_queue=10"}, "--predict_queue (10) must be at least --predict_max_request"},
      {{"--predict_max_batch=0"}, "must be at least 1"},
  };
  for (const auto& [flags, message] : cases) {
    CapturedOutput err(dir.File("err.log"));
    std::vector<std::string> argv = {Bin("fedge-gateway"), "--insecure",
                                     "--listen=tcp://127.0.0.1:*",
                                     "--root=ipc://" + dir.File("no-root")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<sim::Subprocess> p = sim::Subprocess::Start(argv, {}, -1, -1, err.fd());
    ASSERT_TRUE(p.ok()) << p.status();
    sim::ExitInfo e = Finish(*p, absl::Seconds(30));
    EXPECT_EQ(e.exit_code, 2) << message;
    EXPECT_THAT(err.Read(), ::testing::HasSubstr(message));
  }
}

}  // namespace
}  // namespace fedge::testing
