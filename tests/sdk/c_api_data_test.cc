// The C API's ABI 3 data and prediction contract: a data source declares its
// example shape, target size and dtype; the model's task (signed, from the
// coordinator) says what the target is; the SDK checks the one against the
// other before training and predicts outputs of the task's size. Against the
// in-process fake coordinator (tests/sdk/fake_coordinator.h); the non-image
// model is the breast cancer MLP of examples/sklearn_tasks.py (the sklearn
// CTest fixture, FEDGE_TEST_SKLEARN).

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/trainer.h"
#include "fedge/fedge_client.h"
#include "protocol/task_spec.h"
#include "tests/sdk/fake_coordinator.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::testing::HasSubstr;

// Examples made by a function of (example, value index): `features` floats
// per example, `targets` per target; `count` examples.
struct FnData {
  int count = 64;
  int features = 30;
  int targets = 1;
  std::function<float(int, int)> feature;
  std::function<float(int, int)> target;
  int next = 0;

  static int Next(void* user, float* x, float* y, int max, int* n) {
    auto* d = static_cast<FnData*>(user);
    const int take = std::min(max, d->count - d->next);
    for (int i = 0; i < take; ++i) {
      for (int k = 0; k < d->features; ++k) x[i * d->features + k] = d->feature(d->next + i, k);
      for (int k = 0; k < d->targets; ++k) y[i * d->targets + k] = d->target(d->next + i, k);
    }
    d->next += take;
    *n = take;
    return 0;
  }
  static int Reset(void* user) {
    static_cast<FnData*>(user)->next = 0;
    return 0;
  }
};

// 30 standard-normal features; label 1 when the first two sum above 0.
FnData Tabular() {
  FnData d;
  d.feature = [](int i, int k) {
    std::mt19937 rng(static_cast<uint32_t>(i * 31 + k));
    return std::normal_distribution<float>(0.0f, 1.0f)(rng);
  };
  d.target = [f = d.feature](int i, int) { return f(i, 0) + f(i, 1) > 0 ? 1.0f : 0.0f; };
  return d;
}

// 28x28 images in [0, 1] with class labels 0..9.
FnData Images() {
  FnData d;
  d.features = 28 * 28;
  d.feature = [](int i, int k) { return static_cast<float>((i * 7 + k) % 256) / 255.0f; };
  d.target = [](int i, int) { return static_cast<float>(i % 10); };
  return d;
}

protocol::TaskSpec BinaryTask() {
  protocol::TaskSpec task;
  EXPECT_TRUE(protocol::ParseTarget("binary", "task", &task).ok());
  task.input_shape = {30};
  return task;
}

// The breast cancer MLP (30 -> 16 -> 1), or null without the fixture.
std::optional<protocol::ModelPayload> BreastCancerModel() {
  const char* dir = std::getenv("FEDGE_TEST_SKLEARN");
  if (dir == nullptr) return std::nullopt;
  absl::StatusOr<protocol::ModelPayload> m =
      client::MakeInitialModel(absl::StrCat(dir, "/breast_cancer/model.pt"), 1, BinaryTask());
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::optional<protocol::ModelPayload>(*std::move(m)) : std::nullopt;
}

protocol::ModelPayload FashionMnistMlp() {
  absl::StatusOr<protocol::ModelPayload> m =
      client::MakeInitialModel("mlp", 1, protocol::FashionMnistTask());
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

bool TorchPluginLoaded() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (absl::StrContains(line, "libfedge_torch_plugin")) return true;
  }
  return false;
}

class CApiDataTest : public ::testing::Test {
 protected:
  // A config for `data`, declared as `shape` with its targets' size.
  fedge_config Config(const std::string& endpoint, FnData* data, std::vector<int64_t> shape,
                      fedge_dtype dtype = FEDGE_DTYPE_F32) {
    fedge_config c;
    fedge_config_init(&c);
    endpoint_ = endpoint;
    store_ = dir_.File("store");
    c.coordinator_endpoint = endpoint_.c_str();
    c.insecure = 1;
    c.storage_dir = store_.c_str();
    c.client_id = 5;
    c.data.user = data;
    c.data.reset = FnData::Reset;
    c.data.next_batch = FnData::Next;
    c.data.example_rank = static_cast<int32_t>(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) c.data.example_shape[i] = shape[i];
    c.data.target_size = data->targets;
    c.data.example_dtype = dtype;
    return c;
  }

  // Runs one check-in in which the fake coordinator hands out a task of
  // `model`; returns what run_once returned. `update` gets the upload, if
  // any: the device either uploads or leaves the round (an ErrorReply).
  BackgroundRun* RunTask(FakeCoordinator& coordinator, fedge_client* client,
                         const protocol::ModelPayload& model,
                         std::optional<protocol::Update>* update = nullptr) {
    run_ = std::make_unique<BackgroundRun>(client, 120000);
    std::string peer;
    std::optional<protocol::Hello> hello =
        coordinator.NextOf<protocol::Hello>(absl::Seconds(30), &peer);
    EXPECT_TRUE(hello.has_value());
    if (!hello) return run_.get();
    coordinator.Send(peer, protocol::Welcome{hello->client_id, 1000, 0});
    protocol::Task task;
    task.round = 1;
    task.model_version = 4;
    task.config.batch_size = 8;
    task.config.learning_rate = 0.1f;
    task.model = model;
    coordinator.Send(peer, task);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (std::optional<protocol::Message> m = coordinator.Next(deadline - absl::Now())) {
      if (auto* u = std::get_if<protocol::Update>(&*m)) {
        if (update != nullptr) *update = *u;
        break;
      }
      if (auto* e = std::get_if<protocol::ErrorReply>(&*m)) {
        left_ = *e;
        break;
      }
    }
    run_->Join();
    return run_.get();
  }

  testing::TempDir dir_;
  std::string endpoint_, store_;
  std::unique_ptr<BackgroundRun> run_;
  std::optional<protocol::ErrorReply> left_;  // RunTask's device left the round
};

TEST_F(CApiDataTest, Abi3ConfigIsRefusedSayingWhatChanged) {
  FnData data = Tabular();
  fedge_config c = Config("tcp://127.0.0.1:1", &data, {30});
  c.abi_version = 3;
  fedge_client* client = nullptr;
  EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_ERR_INVALID_ARGUMENT);
  const std::string error = fedge_last_error();
  EXPECT_THAT(error, HasSubstr("config built for fedge ABI 3; this library is ABI 4"));
  EXPECT_THAT(error, HasSubstr("dp_mode, dp_clip and dp_noise_stddev"));
  EXPECT_EQ(client, nullptr);
}

TEST_F(CApiDataTest, Abi2ConfigIsRefusedSayingWhatChanged) {
  FnData data = Tabular();
  fedge_config c = Config("tcp://127.0.0.1:1", &data, {30});
  c.abi_version = 2;
  fedge_client* client = nullptr;
  EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_ERR_INVALID_ARGUMENT);
  const std::string error = fedge_last_error();
  EXPECT_THAT(error, HasSubstr("config built for fedge ABI 2; this library is ABI 4"));
  EXPECT_THAT(error, HasSubstr("example_rank/example_shape/target_size"));
  EXPECT_THAT(error, HasSubstr("float targets"));
  EXPECT_THAT(error, HasSubstr("rebuild"));
  EXPECT_EQ(client, nullptr);
}

TEST_F(CApiDataTest, DeclarationErrorsNameTheField) {
  FnData data = Tabular();
  fedge_client* client = nullptr;
  struct Case {
    std::function<void(fedge_config&)> spoil;
    const char* message;
  };
  const Case cases[] = {
      {[](fedge_config& c) { c.data.example_rank = 0; }, "data.example_rank is 0; want 1 to 8"},
      {[](fedge_config& c) { c.data.example_rank = 9; }, "data.example_rank is 9"},
      {[](fedge_config& c) {
         c.data.example_rank = 2;
         c.data.example_shape[1] = 0;
       },
       "data.example_shape[1] is 0; want > 0"},
      {[](fedge_config& c) { c.data.target_size = 0; }, "data.target_size is 0"},
      {[](fedge_config& c) { c.data.example_dtype = 7; }, "data.example_dtype is 7"},
  };
  for (const Case& k : cases) {
    fedge_config c = Config("tcp://127.0.0.1:1", &data, {30});
    k.spoil(c);
    EXPECT_EQ(fedge_client_create(&c, &client), FEDGE_ERR_INVALID_ARGUMENT) << k.message;
    EXPECT_THAT(fedge_last_error(), HasSubstr(k.message));
  }
  // A device that only predicts declares nothing.
  fedge_config predict_only = Config("tcp://127.0.0.1:1", &data, {30});
  predict_only.data = fedge_data_source{};
  ASSERT_EQ(fedge_client_create(&predict_only, &client), FEDGE_OK) << fedge_last_error();
  fedge_client_destroy(client);
}

TEST_F(CApiDataTest, ExamplesOfAnotherShapeThanTheTaskAreRefusedBeforeTraining) {
  FakeCoordinator coordinator;
  FnData data = Tabular();
  fedge_client* client = nullptr;
  fedge_config c = Config(coordinator.endpoint(), &data, {30});
  ASSERT_EQ(fedge_client_create(&c, &client), FEDGE_OK) << fedge_last_error();
  const bool plugin_before = TorchPluginLoaded();
  std::optional<protocol::Update> update;
  BackgroundRun* run = RunTask(coordinator, client, FashionMnistMlp(), &update);
  EXPECT_EQ(run->status, FEDGE_ERR_DATA) << fedge_status_name(run->status) << ": " << run->error;
  EXPECT_THAT(run->error, HasSubstr("examples are [30] but the model's task declares input "
                                    "[1,28,28]"));
  EXPECT_FALSE(update.has_value());
  ASSERT_TRUE(left_.has_value());  // the coordinator is told at once
  EXPECT_THAT(left_->message, HasSubstr("examples are [30]"));
  EXPECT_EQ(run->report.task_received, 1);
  EXPECT_EQ(run->report.trained, 0);
  EXPECT_EQ(run->report.uploaded, 0);
  // Refused before LibTorch was loaded for it.
  if (!plugin_before) {
    EXPECT_FALSE(TorchPluginLoaded());
  }
  fedge_client_destroy(client);
}

TEST_F(CApiDataTest, TargetSizeOtherThanTheTasksIsRefused) {
  FakeCoordinator coordinator;
  FnData data = Images();
  data.targets = 2;
  fedge_client* client = nullptr;
  fedge_config c = Config(coordinator.endpoint(), &data, {1, 28, 28}, FEDGE_DTYPE_U8);
  ASSERT_EQ(fedge_client_create(&c, &client), FEDGE_OK) << fedge_last_error();
  BackgroundRun* run = RunTask(coordinator, client, FashionMnistMlp());
  EXPECT_EQ(run->status, FEDGE_ERR_DATA) << run->error;
  EXPECT_THAT(run->error, HasSubstr("target_size is 2 but the model's target classes:10 has 1"));
  fedge_client_destroy(client);
}

TEST_F(CApiDataTest, LabelOutOfRangeIsRefusedNamingTheExample) {
  FakeCoordinator coordinator;
  FnData data = Images();
  data.target = [](int i, int) { return i == 17 ? 12.0f : static_cast<float>(i % 10); };
  fedge_client* client = nullptr;
  fedge_config c = Config(coordinator.endpoint(), &data, {1, 28, 28}, FEDGE_DTYPE_U8);
  ASSERT_EQ(fedge_client_create(&c, &client), FEDGE_OK) << fedge_last_error();
  std::optional<protocol::Update> update;
  BackgroundRun* run = RunTask(coordinator, client, FashionMnistMlp(), &update);
  EXPECT_EQ(run->status, FEDGE_ERR_DATA) << run->error;
  EXPECT_THAT(run->error, HasSubstr("example 17 has target 12, want a class index in [0, 10)"));
  EXPECT_FALSE(update.has_value());
  EXPECT_EQ(run->report.trained, 0);
  fedge_client_destroy(client);
}

// A NaN, or a FEDGE_DTYPE_U8 value outside [0, 1], is found by the counting
// pass: run_once fails before it connects.
TEST_F(CApiDataTest, BadFeatureValuesAreRefusedBeforeConnecting) {
  FakeCoordinator coordinator;
  struct Case {
    fedge_dtype dtype;
    float value;
    const char* message;
  };
  for (const Case& k : {Case{FEDGE_DTYPE_F32, NAN, "example 5 has feature 3 = nan (NaN or infinite)"},
                        Case{FEDGE_DTYPE_U8, 1.5f, "example 5 has feature 3 = 1.5, outside [0, 1]"}}) {
    FnData data = Tabular();
    data.feature = [v = k.value](int i, int f) { return i == 5 && f == 3 ? v : 0.25f; };
    fedge_client* client = nullptr;
    fedge_config c = Config(coordinator.endpoint(), &data, {30}, k.dtype);
    ASSERT_EQ(fedge_client_create(&c, &client), FEDGE_OK) << fedge_last_error();
    fedge_run_report report;
    EXPECT_EQ(fedge_client_run_once(client, 10000, &report), FEDGE_ERR_DATA);
    EXPECT_THAT(fedge_last_error(), HasSubstr(k.message));
    EXPECT_FALSE(coordinator.Next(absl::Milliseconds(100)).has_value());
    fedge_client_destroy(client);
  }
}

// A device of 30 features and a binary target trains the breast cancer MLP,
// uploads, and predicts one logit per example offline.
TEST_F(CApiDataTest, NonImageDeviceTrainsAndPredictsOfflineWithTheTasksSizes) {
  std::optional<protocol::ModelPayload> model = BreastCancerModel();
  if (!model) GTEST_SKIP() << "FEDGE_TEST_SKLEARN not set";
  FakeCoordinator coordinator;
  FnData data = Tabular();
  fedge_client* client = nullptr;
  fedge_config c = Config(coordinator.endpoint(), &data, {30});
  ASSERT_EQ(fedge_client_create(&c, &client), FEDGE_OK) << fedge_last_error();
  std::optional<protocol::Update> update;
  BackgroundRun* run = RunTask(coordinator, client, *model, &update);
  ASSERT_EQ(run->status, FEDGE_OK) << fedge_status_name(run->status) << ": " << run->error;
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->num_examples, 64u);
  EXPECT_EQ(update->delta.size(), model->weights.size());
  EXPECT_EQ(run->report.stored_model_version, 4u);

  fedge_model_info info;
  ASSERT_EQ(fedge_model_get_info(client, &info), FEDGE_OK) << fedge_last_error();
  EXPECT_EQ(info.version, 4u);
  ASSERT_EQ(info.input_rank, 1);
  EXPECT_EQ(info.input_shape[0], 30);
  EXPECT_EQ(info.input_size, 30);
  EXPECT_EQ(info.output_size, 1);
  EXPECT_EQ(info.target, FEDGE_TARGET_BINARY);
  EXPECT_EQ(info.num_classes, 0);
  EXPECT_EQ(info.target_size, 1);

  std::vector<float> x(4 * 30), logits(4, NAN);
  for (int i = 0; i < 4; ++i) {
    for (int k = 0; k < 30; ++k) x[i * 30 + k] = data.feature(i, k);
  }
  ASSERT_EQ(fedge_model_predict(client, 4, x.data(), x.size(), logits.data(), logits.size()),
            FEDGE_OK)
      << fedge_last_error();
  for (float v : logits) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NE(logits[0], logits[1]);
  // Buffers too small for the model: the error says how many floats.
  EXPECT_EQ(fedge_model_predict(client, 4, x.data(), x.size(), logits.data(), 3),
            FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(fedge_last_error(), HasSubstr("outputs has room for 3 floats; 4 examples of model 4 "
                                            "(target binary) need 4 (1 each)"));
  EXPECT_EQ(fedge_model_predict(client, 4, x.data(), 100, logits.data(), 4),
            FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(fedge_last_error(), HasSubstr("inputs holds 100 floats; 4 examples of model 4's "
                                            "input [30] need 120 (30 each)"));
  fedge_client_destroy(client);
}

TEST_F(CApiDataTest, ReadersFillTheDataSource) {
  std::ofstream(dir_.File("d.csv")) << "a,b,label,c\n1,2,0,3\n4,5,1,6\n";
  fedge_reader* csv = nullptr;
  ASSERT_EQ(fedge_csv_open(dir_.File("d.csv").c_str(), "label", &csv), FEDGE_OK)
      << fedge_last_error();
  fedge_data_source s;
  ASSERT_EQ(fedge_reader_source(csv, &s), FEDGE_OK);
  EXPECT_EQ(fedge_reader_size(csv), 2);
  EXPECT_EQ(s.user, csv);
  ASSERT_EQ(s.example_rank, 1);
  EXPECT_EQ(s.example_shape[0], 3);
  EXPECT_EQ(s.target_size, 1);
  EXPECT_EQ(s.example_dtype, FEDGE_DTYPE_F32);
  float x[6], y[2];
  int n = 0;
  ASSERT_EQ(s.reset(s.user), 0);
  ASSERT_EQ(s.next_batch(s.user, x, y, 5, &n), 0);
  ASSERT_EQ(n, 2);
  EXPECT_EQ(std::vector<float>(x, x + 6), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(std::vector<float>(y, y + 2), (std::vector<float>{0, 1}));
  ASSERT_EQ(s.next_batch(s.user, x, y, 5, &n), 0);
  EXPECT_EQ(n, 0);
  fedge_reader_close(csv);

  // IDX images: {1, rows, cols}, kept as bytes.
  testing::WriteBytes(dir_.File("img"), testing::IdxImages(2, 4, 3, std::vector<uint8_t>(24, 51)),
                      false);
  testing::WriteBytes(dir_.File("lab"), testing::IdxLabels({3, 7}), true);
  fedge_reader* idx = nullptr;
  ASSERT_EQ(fedge_idx_open(dir_.File("img").c_str(), dir_.File("lab").c_str(), &idx), FEDGE_OK)
      << fedge_last_error();
  ASSERT_EQ(fedge_reader_source(idx, &s), FEDGE_OK);
  ASSERT_EQ(s.example_rank, 3);
  EXPECT_EQ(s.example_shape[0], 1);
  EXPECT_EQ(s.example_shape[1], 4);
  EXPECT_EQ(s.example_shape[2], 3);
  EXPECT_EQ(s.example_dtype, FEDGE_DTYPE_U8);
  float px[24], labels[2];
  ASSERT_EQ(s.next_batch(s.user, px, labels, 2, &n), 0);
  EXPECT_FLOAT_EQ(px[23], 0.2f);
  EXPECT_EQ(labels[1], 7.0f);
  fedge_reader_close(idx);

  // Errors name the file and what is wrong.
  fedge_reader* bad = nullptr;
  EXPECT_EQ(fedge_csv_open(dir_.File("d.csv").c_str(), "target", &bad), FEDGE_ERR_DATA);
  EXPECT_THAT(fedge_last_error(), HasSubstr("d.csv"));
  EXPECT_EQ(fedge_csv_open(dir_.File("absent.csv").c_str(), "label", &bad), FEDGE_ERR_NOT_FOUND);
  EXPECT_EQ(fedge_npy_open(dir_.File("d.csv").c_str(), "y.npy", &bad),
            FEDGE_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(fedge_last_error(), HasSubstr("two .npy files"));
  EXPECT_EQ(bad, nullptr);
}

}  // namespace
}  // namespace fedge
