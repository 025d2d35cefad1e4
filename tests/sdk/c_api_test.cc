// The device SDK's C API (fedge/fedge_client.h) against an in-process fake
// coordinator (tests/sdk/fake_coordinator.h), so each protocol step is
// deterministic: errors as codes and messages, null handles, cancel, time
// out, and eligibility failing mid-training (nothing uploaded, the
// coordinator told the client left the round, the task's model stored and
// usable offline). Data sources of other shapes and tasks, and bad data:
// c_api_data_test.cc.

#include <atomic>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "client/trainer.h"
#include "fedge/fedge_client.h"
#include "protocol/codec.h"
#include "protocol/model_signature.h"
#include "secure/key_files.h"
#include "secure/random.h"
#include "tests/sdk/fake_coordinator.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

// The Fashion-MNIST task's examples: 28x28 single-channel images.
constexpr int kPixels = 28 * 28;

// 64 random images with class labels, declared {1, 28, 28}, kept as bytes.
struct Data {
  int next = 0;
  static int Next(void* user, float* images, float* labels, int max, int* n) {
    auto* d = static_cast<Data*>(user);
    std::mt19937 rng(d->next);
    const int take = std::min(max, 64 - d->next);
    for (int i = 0; i < take * kPixels; ++i) images[i] = (rng() % 256) / 255.0f;
    for (int i = 0; i < take; ++i) labels[i] = static_cast<float>(rng() % 10);
    d->next += take;
    *n = take;
    return 0;
  }
  static int Reset(void* user) {
    static_cast<Data*>(user)->next = 0;
    return 0;
  }
};

class CApiTest : public ::testing::Test {
 protected:
  fedge_config Config(const std::string& endpoint) {
    fedge_config c;
    fedge_config_init(&c);
    endpoint_ = endpoint;
    store_ = dir_.File("store");
    c.coordinator_endpoint = endpoint_.c_str();
    c.insecure = 1;
    c.storage_dir = store_.c_str();
    c.client_id = 3;
    c.data.user = &data_;
    c.data.reset = Data::Reset;
    c.data.next_batch = Data::Next;
    c.data.example_rank = 3;
    c.data.example_shape[0] = 1;
    c.data.example_shape[1] = 28;
    c.data.example_shape[2] = 28;
    c.data.target_size = 1;
    c.data.example_dtype = FEDGE_DTYPE_U8;
    return c;
  }
  fedge_client* Create(const fedge_config& c) {
    fedge_client* client = nullptr;
    EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_OK) << fedge_last_error();
    return client;
  }

  testing::TempDir dir_;
  std::string endpoint_, store_;
  Data data_;
};

TEST_F(CApiTest, VersionAndStatusNames) {
  EXPECT_EQ(fedge_abi_version(), FEDGE_ABI_VERSION);
  EXPECT_STREQ(fedge_version(), "0.1.0");
  EXPECT_STREQ(fedge_status_name(FEDGE_ERR_NOT_ELIGIBLE), "NOT_ELIGIBLE");
}

TEST_F(CApiTest, NullHandlesAndArgumentsAreErrorsWithMessages) {
  EXPECT_EQ(fedge_client_run_once(nullptr, 100, nullptr), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), "null client")) << fedge_last_error();
  EXPECT_EQ(fedge_client_cancel(nullptr), FEDGE_ERR_INVALID_ARGUMENT);
  float x[kPixels] = {}, s[10];
  EXPECT_EQ(fedge_model_predict(nullptr, 1, x, kPixels, s, 10), FEDGE_ERR_INVALID_ARGUMENT);
  fedge_model_info info;
  EXPECT_EQ(fedge_model_get_info(nullptr, &info), FEDGE_ERR_INVALID_ARGUMENT);
  fedge_client_destroy(nullptr);
  fedge_client* c = reinterpret_cast<fedge_client*>(1);
  EXPECT_EQ(fedge_client_create(nullptr, &c), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(fedge_idx_open(nullptr, "x", nullptr), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fedge_csv_open("x.csv", nullptr, nullptr), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fedge_reader_source(nullptr, nullptr), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fedge_reader_next_batch(nullptr, x, nullptr, 1, nullptr), -1);
  EXPECT_EQ(fedge_reader_size(nullptr), -1);
  fedge_reader_close(nullptr);

  fedge_client* client = Create(Config("tcp://127.0.0.1:1"));
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(fedge_model_predict(client, 1, nullptr, 0, s, 10), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fedge_model_predict(client, 0, x, kPixels, s, 10), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fedge_model_get_info(client, nullptr), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fedge_client_run_once(client, 0, nullptr), FEDGE_ERR_INVALID_ARGUMENT);
  fedge_client_destroy(client);
}

TEST_F(CApiTest, ConfigErrors) {
  fedge_config c = Config("tcp://127.0.0.1:1");
  fedge_client* client = nullptr;
  fedge_config raw;
  std::memset(&raw, 0, sizeof raw);  // not initialised with fedge_config_init
  EXPECT_EQ(fedge_client_create(&raw, &client), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), "fedge_config_init"));

  c.storage_dir = nullptr;
  EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), "storage_dir"));

  c = Config("tcp://127.0.0.1:1");
  c.insecure = 0;  // secure needs keys
  EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), "key_file"));

  c.key_file = "/nonexistent/dev.key";
  c.coordinator_pub = "/nonexistent/coordinator.pub";
  EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_ERR_NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), "/nonexistent/coordinator.pub"))
      << fedge_last_error();
  EXPECT_EQ(client, nullptr);
}

TEST_F(CApiTest, NoModelBeforeTheFirstTaskAndBadData) {
  fedge_config c = Config("tcp://127.0.0.1:1");
  c.data.next_batch = [](void*, float*, float*, int, int*) { return 7; };
  fedge_client* client = Create(c);
  float x[kPixels] = {}, s[10];
  EXPECT_EQ(fedge_model_predict(client, 1, x, kPixels, s, 10), FEDGE_ERR_NO_MODEL);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), store_)) << fedge_last_error();
  EXPECT_EQ(fedge_client_run_once(client, 1000, nullptr), FEDGE_ERR_DATA);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), "data callback failed"));
  fedge_client_destroy(client);
}

TEST_F(CApiTest, IneligibleDeviceDoesNotConnect) {
  FakeCoordinator coordinator;
  fedge_config c = Config(coordinator.endpoint());
  c.eligible = [](void*) { return 0; };
  fedge_client* client = Create(c);
  EXPECT_EQ(fedge_client_run_once(client, 5000, nullptr), FEDGE_ERR_NOT_ELIGIBLE);
  EXPECT_FALSE(coordinator.Next(absl::Milliseconds(100)).has_value());
  fedge_client_destroy(client);
}

TEST_F(CApiTest, TimesOutWithoutATask) {
  FakeCoordinator coordinator;  // never answers
  fedge_client* client = Create(Config(coordinator.endpoint()));
  fedge_run_report report;
  EXPECT_EQ(fedge_client_run_once(client, 300, &report), FEDGE_ERR_TIMEOUT);
  EXPECT_EQ(report.task_received, 0);
  EXPECT_EQ(report.examples, 64);
  fedge_client_destroy(client);
}

TEST_F(CApiTest, CancelFromAnotherThread) {
  FakeCoordinator coordinator;
  fedge_client* client = Create(Config(coordinator.endpoint()));
  BackgroundRun run(client, 60000);
  ASSERT_TRUE(coordinator.NextOf<protocol::Hello>(absl::Seconds(30)).has_value());
  EXPECT_EQ(fedge_client_cancel(client), FEDGE_OK);  // run_once is serving now
  run.Join();
  EXPECT_EQ(run.status, FEDGE_ERR_CANCELLED);

  // A cancel with nothing running cancels the next run, once.
  EXPECT_EQ(fedge_client_cancel(client), FEDGE_OK);
  EXPECT_EQ(fedge_client_run_once(client, 60000, nullptr), FEDGE_ERR_CANCELLED);
  EXPECT_EQ(fedge_client_run_once(client, 200, nullptr), FEDGE_ERR_TIMEOUT);
  fedge_client_destroy(client);
}

// Eligible for the connection, the pre-training check and the first batch;
// then not (e.g. unplugged).
std::atomic<int> eligible_calls{0};
int EligibleForOneBatch(void*) { return ++eligible_calls <= 3; }

TEST_F(CApiTest, IneligibleMidTrainingUploadsNothingAndLeavesTheRound) {
  FakeCoordinator coordinator;
  fedge_config c = Config(coordinator.endpoint());
  c.eligible = EligibleForOneBatch;
  fedge_client* client = Create(c);
  BackgroundRun run(client, 120000);

  std::string peer;
  std::optional<protocol::Hello> hello = coordinator.NextOf<protocol::Hello>(absl::Seconds(30), &peer);
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->client_id, 3u);
  EXPECT_EQ(hello->num_examples, 64u);
  protocol::Welcome welcome;
  welcome.client_id = 3;
  welcome.heartbeat_interval_ms = 1000;
  coordinator.Send(peer, welcome);
  protocol::Task task;
  task.round = 4;
  task.model_version = 9;
  task.config.batch_size = 8;  // 8 batches: room to stop after the first
  absl::StatusOr<protocol::ModelPayload> model = client::MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_TRUE(model.ok()) << model.status();
  task.model = *model;
  coordinator.Send(peer, task);

  std::optional<protocol::ErrorReply> left =
      coordinator.NextOf<protocol::ErrorReply>(absl::Seconds(60));
  run.Join();
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->round, 4u);
  EXPECT_TRUE(absl::StrContains(left->message, "left the round")) << left->message;
  while (coordinator.NextOf<protocol::Update>(absl::Milliseconds(200))) ++coordinator.updates;
  EXPECT_EQ(coordinator.updates, 0);
  EXPECT_EQ(run.status, FEDGE_ERR_NOT_ELIGIBLE) << fedge_status_name(run.status);
  EXPECT_GE(eligible_calls.load(), 4);  // polled between batches
  EXPECT_EQ(run.report.task_received, 1);
  EXPECT_EQ(run.report.trained, 0);
  EXPECT_EQ(run.report.uploaded, 0);
  EXPECT_EQ(run.report.round, 4u);
  EXPECT_EQ(run.report.stored_model_version, 9u);  // the task's model was stored

  // Offline inference with the stored model (the fake coordinator is idle):
  // the Fashion-MNIST task's images in, 10 class logits out.
  fedge_model_info info;
  ASSERT_EQ(fedge_model_get_info(client, &info), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(info.version, 9u);
  ASSERT_EQ(info.input_rank, 3);
  EXPECT_EQ(info.input_shape[0], 1);
  EXPECT_EQ(info.input_shape[1], 28);
  EXPECT_EQ(info.input_shape[2], 28);
  EXPECT_EQ(info.input_size, kPixels);
  EXPECT_EQ(info.target, FEDGE_TARGET_CLASS);
  EXPECT_EQ(info.num_classes, 10);
  EXPECT_EQ(info.target_size, 1);
  ASSERT_EQ(info.output_size, 10);
  std::vector<float> x(2 * kPixels, 0.5f), scores(2 * 10, -1e9f);
  ASSERT_EQ(fedge_model_predict(client, 2, x.data(), x.size(), scores.data(), scores.size()),
            FEDGE_OK)
      << fedge_last_error();
  EXPECT_NE(scores[0], -1e9f);
  EXPECT_NE(scores[19], -1e9f);
  fedge_client_destroy(client);
}

// The device side of a check-in the coordinator answers with "not now":
// registers as a check-in device, receives the newest model, reports the
// advice, leaves.
void AnswerWithModelAndRetry(FakeCoordinator& coordinator, const protocol::GlobalModel& model,
                             protocol::Hello* hello_out) {
  std::string peer;
  std::optional<protocol::Hello> hello =
      coordinator.NextOf<protocol::Hello>(absl::Seconds(30), &peer);
  ASSERT_TRUE(hello.has_value());
  *hello_out = *hello;
  coordinator.Send(peer, protocol::Welcome{hello->client_id, 1000, model.model_version});
  coordinator.Send(peer, model);
  coordinator.Send(peer, protocol::RetryLater{2500, 10000, "round 7 is in progress"});
  std::optional<protocol::Leave> bye = coordinator.NextOf<protocol::Leave>(absl::Seconds(30));
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(bye->client_id, hello->client_id);
}

protocol::GlobalModel MlpModel(uint64_t version, const protocol::ModelSigner* signer) {
  protocol::GlobalModel g;
  g.model_version = version;
  absl::StatusOr<protocol::ModelPayload> model = client::MakeInitialModel("mlp", version, protocol::TaskSpec());
  EXPECT_TRUE(model.ok()) << model.status();
  g.model = *std::move(model);
  if (signer != nullptr) g.signature = *signer->Sign(version, g.model);
  return g;
}

TEST_F(CApiTest, NotSelectedDeviceStoresTheNewestModelAndReportsWhenToComeBack) {
  FakeCoordinator coordinator;
  fedge_client* client = Create(Config(coordinator.endpoint()));
  BackgroundRun run(client, 60000);
  protocol::Hello hello;
  AnswerWithModelAndRetry(coordinator, MlpModel(6, nullptr), &hello);
  run.Join();
  EXPECT_NE(hello.capabilities & protocol::kCapCheckIn, 0u);
  EXPECT_FALSE(hello.has_model);
  EXPECT_EQ(run.status, FEDGE_ERR_RETRY_LATER) << run.error;
  EXPECT_TRUE(absl::StrContains(run.error, "round 7 is in progress")) << run.error;
  EXPECT_EQ(run.report.task_received, 0);
  EXPECT_EQ(run.report.retry_after_ms, 2500);
  EXPECT_EQ(run.report.retry_window_ms, 10000);
  EXPECT_EQ(run.report.stored_model_version, 6u);
  fedge_model_info info;
  ASSERT_EQ(fedge_model_get_info(client, &info), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(info.version, 6u);

  // The next check-in says which model the device holds.
  BackgroundRun again(client, 60000);
  AnswerWithModelAndRetry(coordinator, MlpModel(7, nullptr), &hello);
  again.Join();
  EXPECT_TRUE(hello.has_model);
  EXPECT_EQ(hello.model_version, 6u);
  EXPECT_EQ(again.report.stored_model_version, 7u);
  fedge_client_destroy(client);
}

TEST_F(CApiTest, NoAdviceMeansRetryFieldsAreMinusOne) {
  FakeCoordinator coordinator;  // never answers
  fedge_client* client = Create(Config(coordinator.endpoint()));
  fedge_run_report report;
  EXPECT_EQ(fedge_client_run_once(client, 200, &report), FEDGE_ERR_TIMEOUT);
  EXPECT_EQ(report.retry_after_ms, -1);
  EXPECT_EQ(report.retry_window_ms, -1);
  fedge_client_destroy(client);
}

TEST_F(CApiTest, MaxTrainMsStopsTrainingAndUploadsNothing) {
  FakeCoordinator coordinator;
  fedge_config c = Config(coordinator.endpoint());
  c.max_train_ms = 1;
  fedge_client* client = Create(c);
  BackgroundRun run(client, 120000);
  std::string peer;
  ASSERT_TRUE(coordinator.NextOf<protocol::Hello>(absl::Seconds(30), &peer).has_value());
  coordinator.Send(peer, protocol::Welcome{3, 1000, 0});
  protocol::Task task;
  task.round = 2;
  task.config.batch_size = 8;
  task.config.local_epochs = 50;  // 400 batches: far beyond 1 ms
  task.model = MlpModel(0, nullptr).model;
  coordinator.Send(peer, task);
  std::optional<protocol::ErrorReply> left =
      coordinator.NextOf<protocol::ErrorReply>(absl::Seconds(60));
  run.Join();
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(absl::StrContains(left->message, "max_train_ms")) << left->message;
  EXPECT_EQ(coordinator.updates, 0);
  EXPECT_EQ(run.status, FEDGE_ERR_TIMEOUT) << fedge_status_name(run.status);
  EXPECT_TRUE(absl::StrContains(run.error, "max_train_ms")) << run.error;
  EXPECT_EQ(run.report.task_received, 1);
  EXPECT_EQ(run.report.trained, 0);
  EXPECT_EQ(run.report.uploaded, 0);
  fedge_client_destroy(client);
}

TEST_F(CApiTest, SecondConcurrentRunOnceIsRefused) {
  FakeCoordinator coordinator;
  fedge_client* client = Create(Config(coordinator.endpoint()));
  BackgroundRun run(client, 60000);
  ASSERT_TRUE(coordinator.NextOf<protocol::Hello>(absl::Seconds(30)).has_value());
  EXPECT_EQ(fedge_client_run_once(client, 60000, nullptr), FEDGE_ERR_FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(fedge_last_error(), "already running")) << fedge_last_error();
  // Inference does not wait for the running check-in.
  float x[kPixels] = {}, s[10];
  EXPECT_EQ(fedge_model_predict(client, 1, x, kPixels, s, 10), FEDGE_ERR_NO_MODEL);
  EXPECT_EQ(fedge_client_cancel(client), FEDGE_OK);
  run.Join();
  EXPECT_EQ(run.status, FEDGE_ERR_CANCELLED);
  fedge_client_destroy(client);
}

// CURVE end to end through the C API: the device's key file and the pinned
// coordinator.pub, a signed model verified and stored.
class CApiCurveTest : public CApiTest {
 protected:
  void SetUp() override {
    auto coordinator = secure::GenerateCoordinatorKey(secure::SecureRandom::Default());
    auto other = secure::GenerateCoordinatorKey(secure::SecureRandom::Default());
    auto device = secure::GenerateDeviceKey(secure::SecureRandom::Default());
    ASSERT_TRUE(coordinator.ok() && other.ok() && device.ok());
    coordinator_ = *std::move(coordinator);
    key_file_ = dir_.File("device.key");
    pub_file_ = dir_.File("coordinator.pub");
    other_pub_file_ = dir_.File("other.pub");
    ASSERT_TRUE(secure::WriteDeviceKeyFile(key_file_, *device).ok());
    ASSERT_TRUE(secure::WriteCoordinatorIdentityFile(
        pub_file_, {coordinator_.curve_public, coordinator_.signing_public}).ok());
    ASSERT_TRUE(secure::WriteCoordinatorIdentityFile(
        other_pub_file_, {other->curve_public, other->signing_public}).ok());
    auto signer = protocol::ModelSigner::Create(coordinator_.signing_secret.span());
    ASSERT_TRUE(signer.ok());
    signer_ = *std::move(signer);
  }
  fedge_config SecureConfig(const std::string& endpoint, const std::string& pub) {
    fedge_config c = Config(endpoint);
    c.insecure = 0;
    c.key_file = key_file_.c_str();
    c.coordinator_pub = pub.c_str();
    return c;
  }
  secure::CoordinatorKey coordinator_;
  std::unique_ptr<protocol::ModelSigner> signer_;
  std::string key_file_, pub_file_, other_pub_file_;
};

TEST_F(CApiCurveTest, ChecksInOverCurveAndStoresASignedModel) {
  FakeCoordinator coordinator(&coordinator_.curve_secret);
  fedge_client* client = Create(SecureConfig(coordinator.endpoint(), pub_file_));
  BackgroundRun run(client, 60000);
  protocol::Hello hello;
  AnswerWithModelAndRetry(coordinator, MlpModel(3, signer_.get()), &hello);
  run.Join();
  EXPECT_EQ(run.status, FEDGE_ERR_RETRY_LATER) << run.error;
  EXPECT_EQ(run.report.stored_model_version, 3u);
  fedge_client_destroy(client);
}

TEST_F(CApiCurveTest, UnsignedModelIsNotStoredWhenACoordinatorKeyIsPinned) {
  FakeCoordinator coordinator(&coordinator_.curve_secret);
  fedge_client* client = Create(SecureConfig(coordinator.endpoint(), pub_file_));
  BackgroundRun run(client, 60000);
  protocol::Hello hello;
  AnswerWithModelAndRetry(coordinator, MlpModel(3, nullptr), &hello);
  run.Join();
  // A refused model is a security event: it outranks "come back later",
  // whose advice is still in the report.
  EXPECT_EQ(run.status, FEDGE_ERR_UNAUTHENTICATED) << run.error;
  EXPECT_EQ(run.report.retry_after_ms, 2500);
  EXPECT_EQ(run.report.stored_model_version, 0u);
  fedge_model_info info;
  EXPECT_EQ(fedge_model_get_info(client, &info), FEDGE_ERR_NO_MODEL);
  fedge_client_destroy(client);
}

TEST_F(CApiCurveTest, DevicePinnedToAnotherCoordinatorNeverRegisters) {
  FakeCoordinator coordinator(&coordinator_.curve_secret);
  fedge_client* client = Create(SecureConfig(coordinator.endpoint(), other_pub_file_));
  fedge_run_report report;
  EXPECT_EQ(fedge_client_run_once(client, 1500, &report), FEDGE_ERR_TIMEOUT);
  EXPECT_FALSE(coordinator.Next(absl::Milliseconds(100)).has_value());
  EXPECT_EQ(report.task_received, 0);
  fedge_client_destroy(client);
}

}  // namespace
}  // namespace fedge
