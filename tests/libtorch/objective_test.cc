// Losses and metrics beyond class labels (libtorch/objective.h), on the
// built-in mlp (784 inputs, 10 outputs) read as other tasks, against the
// formulas computed here independently of LibTorch's loss functions.

#include "libtorch/objective.h"

#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libtorch/torch_model.h"
#include "client/trainer.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

protocol::TaskSpec Task(const std::string& target, std::vector<int64_t> input = {1, 28, 28}) {
  protocol::TaskSpec t;
  EXPECT_THAT(protocol::ParseTarget(target, "task", &t), IsOk());
  t.input_shape = std::move(input);
  return t;
}

// n float examples of `shape` with targets of `per` values each.
Dataset Floats(int n, std::vector<int64_t> shape, std::vector<int64_t> target_shape,
               const std::function<float(int, int)>& target) {
  Dataset d;
  d.example_shape = std::move(shape);
  d.target_shape = std::move(target_shape);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  for (int64_t i = 0; i < n * d.ExampleSize(); ++i) d.features.push_back(u(rng));
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < d.TargetSize(); ++k) d.targets.push_back(target(i, k));
  }
  return d;
}

// The mlp's outputs for `data` under `weights`, as plain floats [n][10].
std::vector<std::vector<float>> Outputs(const protocol::ModelPayload& model, const Dataset& data) {
  absl::StatusOr<std::unique_ptr<TorchModel>> m =
      TorchModel::Create(Architecture{model.architecture_id, model.architecture});
  EXPECT_THAT(m, IsOk());
  EXPECT_THAT((*m)->SetWeights(model.weights), IsOk());
  torch::NoGradGuard no_grad;
  (*m)->SetTraining(false);
  torch::Tensor y = (*m)->Forward(ExamplesTensor(data)).contiguous();
  std::vector<std::vector<float>> out(static_cast<size_t>(y.size(0)));
  for (int64_t i = 0; i < y.size(0); ++i) {
    for (int64_t k = 0; k < y.size(1); ++k) out[i].push_back(y[i][k].item<float>());
  }
  return out;
}

TEST(ObjectiveTest, MultiLabelLossAndAccuracyMatchTheirFormulas) {
  const protocol::TaskSpec task = Task("multilabel:10");
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel("mlp", 4, task);
  ASSERT_THAT(model, IsOk());
  const Dataset data = Floats(37, {1, 28, 28}, {10}, [](int i, int k) { return (i + k) % 3 == 0; });
  auto eval = MakeTorchEvaluator(model->architecture_id, model->architecture, task, data);
  ASSERT_THAT(eval, IsOk());
  absl::StatusOr<EvalResult> r = (*eval)->Evaluate(model->weights);
  ASSERT_THAT(r, IsOk());
  double bce = 0, right = 0;
  const auto out = Outputs(*model, data);
  for (int i = 0; i < 37; ++i) {
    for (int k = 0; k < 10; ++k) {
      const double z = out[i][k], y = data.targets[i * 10 + k];
      bce += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
      right += (z > 0) == (y > 0.5);
    }
  }
  EXPECT_NEAR(r->loss, bce / 370, 1e-5);
  EXPECT_NEAR(r->accuracy, right / 370, 1e-9);
  EXPECT_TRUE(r->has_accuracy);
  EXPECT_EQ(r->examples, 37);
}

TEST(ObjectiveTest, RealTargetsReportMseAndMaeAndTrainDownhill) {
  protocol::TaskSpec task = Task("real:10", {784});  // flat inputs: the mlp flattens anyway
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel("mlp", 5, task);
  ASSERT_THAT(model, IsOk());
  const Dataset data = Floats(50, {784}, {10}, [](int i, int k) { return 0.1f * ((i + k) % 5); });
  auto eval = MakeTorchEvaluator(model->architecture_id, model->architecture, task, data);
  ASSERT_THAT(eval, IsOk());
  absl::StatusOr<EvalResult> before = (*eval)->Evaluate(model->weights);
  ASSERT_THAT(before, IsOk());
  double se = 0, ae = 0;
  const auto out = Outputs(*model, data);
  for (int i = 0; i < 50; ++i) {
    for (int k = 0; k < 10; ++k) {
      const double e = out[i][k] - data.targets[i * 10 + k];
      se += e * e;
      ae += std::fabs(e);
    }
  }
  EXPECT_FALSE(before->has_accuracy);
  EXPECT_NEAR(before->mse, se / 500, 1e-6);
  EXPECT_NEAR(before->mae, ae / 500, 1e-6);
  EXPECT_NEAR(before->loss, before->mse, 1e-6);  // the loss is the MSE

  // L1 trains the same model downhill on its own metric.
  task.loss = protocol::LossKind::kL1;
  protocol::Task t;
  t.model = *model;
  t.model.task = task;
  t.config.local_epochs = 5;
  t.config.batch_size = 10;
  t.config.learning_rate = 0.05f;
  TrainOutcome trained;
  ASSERT_THAT(MakeTorchTrainer()->Train(t, data, nullptr, &trained), IsOk());
  std::vector<float> w = model->weights;
  for (size_t i = 0; i < w.size(); ++i) w[i] += trained.delta[i];
  absl::StatusOr<EvalResult> after = (*eval)->Evaluate(w);
  ASSERT_THAT(after, IsOk());
  EXPECT_LT(after->mae, before->mae);
}

TEST(ObjectiveTest, AModelWhoseOutputDoesNotFitTheTargetIsRefusedAtCreation) {
  EXPECT_THAT(MakeInitialModel("mlp", 1, Task("binary")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the model maps 2 examples to [2, 10] Float; target binary wants [2] or "
                       "[2, 1] float32"));
  EXPECT_THAT(MakeInitialModel("mlp", 1, Task("classes:3")),
              StatusIs(absl::StatusCode::kInvalidArgument, "wants [2, 3]"));
  EXPECT_THAT(MakeInitialModel("cnn", 1, Task("classes:10", {30})),
              StatusIs(absl::StatusCode::kInvalidArgument, "does not take inputs [2,30]"));
  protocol::TaskSpec module = Task("classes:10");
  module.loss = protocol::LossKind::kModule;
  EXPECT_THAT(MakeInitialModel("mlp", 1, module),
              StatusIs(absl::StatusCode::kInvalidArgument, "training_loss"));
}

TEST(ObjectiveTest, DataThatDoesNotFitTheTaskIsRefusedBeforeTraining) {
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel("mlp", 1, protocol::TaskSpec());
  ASSERT_THAT(model, IsOk());
  protocol::Task t;
  t.model = *model;
  TrainOutcome out;
  auto trainer = MakeTorchTrainer();
  Dataset wrong_shape = Floats(4, {784}, {}, [](int, int) { return 1.0f; });
  EXPECT_THAT(trainer->Train(t, wrong_shape, nullptr, &out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "examples are [784] but the model's task declares input [1,28,28]"));
  Dataset bad_label = Floats(4, {1, 28, 28}, {}, [](int i, int) { return i == 2 ? 10.0f : 1.0f; });
  EXPECT_THAT(trainer->Train(t, bad_label, nullptr, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, "example 2 has target 10"));
  Dataset nan = Floats(4, {1, 28, 28}, {}, [](int, int) { return 1.0f; });
  nan.features[784 + 5] = NAN;
  EXPECT_THAT(trainer->Train(t, nan, nullptr, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, "example 1 has feature 5"));
  EvalResult eval;
  EXPECT_THAT(trainer->Evaluate(t, nan, &eval), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(trainer->Evaluate(t, bad_label, &eval),
              StatusIs(absl::StatusCode::kInvalidArgument, "held-out data"));
}

}  // namespace
}  // namespace fedge::client

namespace fedge::client {
namespace {

// Training gathers and converts each batch from a view of the data set
// (ExamplesView, ExamplesBatch): bit for bit the rows of the whole-set copy,
// for byte images (scaled to [0, 1]) and for float features, and the view
// copies nothing.
TEST(ExamplesBatchTest, BatchesOfTheViewEqualRowsOfTheWholeSetCopy) {
  Dataset bytes;
  bytes.storage = data::Storage::kUint8;
  bytes.example_shape = {1, 2, 3};
  for (int i = 0; i < 5 * 6; ++i) bytes.bytes.push_back(static_cast<uint8_t>(i * 37 % 256));
  bytes.targets = {0, 1, 2, 3, 4};
  const Dataset floats = Floats(5, {4}, {}, [](int i, int) { return static_cast<float>(i); });
  for (const Dataset* d : std::vector<const Dataset*>{&bytes, &floats}) {
    const torch::Tensor view = ExamplesView(*d);
    EXPECT_EQ(view.data_ptr(), d->storage == data::Storage::kUint8
                                   ? static_cast<const void*>(d->bytes.data())
                                   : static_cast<const void*>(d->features.data()));
    std::vector<int64_t> order = {3, 0, 4};
    const torch::Tensor idx = torch::from_blob(order.data(), {3}, torch::kInt64);
    const torch::Tensor batch = ExamplesBatch(view, idx);
    const torch::Tensor want = ExamplesTensor(*d).index_select(0, idx);
    EXPECT_EQ(batch.scalar_type(), torch::kFloat32);
    EXPECT_EQ(batch.sizes(), want.sizes());
    EXPECT_TRUE(torch::equal(batch, want));
  }
  EXPECT_FLOAT_EQ(ExamplesBatch(ExamplesView(bytes), torch::tensor({1}, torch::kInt64))
                      .flatten()[0]
                      .item<float>(),
                  (6 * 37 % 256) / 255.0f);
}

}  // namespace
}  // namespace fedge::client
