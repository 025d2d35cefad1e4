// The per-client state of SCAFFOLD and FedBN, against the papers' update
// rules written out here, with a fake inner trainer; the state kept by the
// caller (the device SDK's) and the FedBN overlay of a device's model.

#include "client/local_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using protocol::TensorRole;

// Records the task it trained and returns a fixed delta.
class FakeInner : public Trainer {
 public:
  absl::Status Train(const protocol::Task& task, const Dataset&, const StopPredicate&,
                     TrainOutcome* out) override {
    seen.push_back(task);
    if (!fail.ok()) return fail;
    out->delta = delta;
    out->num_examples = 20;
    return absl::OkStatus();
  }
  std::vector<std::string> CachedArchitectures() const override { return {}; }
  std::vector<protocol::Task> seen;
  std::vector<float> delta;
  absl::Status fail;
};

// w[3] parameters, bn.weight[1] parameter, bn.running_mean[1] buffer; the bn
// tensors belong to a normalisation layer.
protocol::Task MakeTask(std::vector<float> weights) {
  protocol::Task t;
  t.model.manifest.tensors = {{"w", {3}, protocol::DType::kFloat32, TensorRole::kParameter, false},
                              {"bn.weight", {1}, protocol::DType::kFloat32,
                               TensorRole::kParameter, true},
                              {"bn.running_mean", {1}, protocol::DType::kFloat32,
                               TensorRole::kBuffer, true}};
  t.model.weights = std::move(weights);
  t.config.batch_size = 8;
  t.config.local_epochs = 2;
  t.config.learning_rate = 0.5f;
  return t;
}

Dataset Examples(int n) {
  Dataset d;
  d.example_shape = {1};
  d.storage = data::Storage::kUint8;
  d.bytes.assign(static_cast<size_t>(n), 0);
  d.targets.assign(static_cast<size_t>(n), 0);
  return d;
}

TEST(LocalStateTest, LocalStepsCountBatchesOfTheExamplesTrained) {
  protocol::TrainingConfig c;
  c.batch_size = 8;
  c.local_epochs = 2;
  EXPECT_EQ(LocalSteps(c, 20), 6u);  // 2 x ceil(20 / 8)
  c.max_examples = 8;
  EXPECT_EQ(LocalSteps(c, 20), 2u);
}

TEST(LocalStateTest, OtherStrategiesPassThroughUntouched) {
  FakeInner inner;
  inner.delta = {1, 2, 3, 4, 5};
  auto trainer = MakeLocalStateTrainer(&inner);
  TrainOutcome out;
  ASSERT_THAT(trainer->Train(MakeTask({0, 0, 0, 1, 0}), Examples(20), nullptr, &out), IsOk());
  EXPECT_TRUE(out.control_delta.empty());
  EXPECT_EQ(out.delta, inner.delta);
  EXPECT_TRUE(inner.seen.at(0).control.empty());
}

// Karimireddy et al. option II, two rounds: the inner trainer is corrected by
// c - c_i, and c_i follows c_i+ = c_i - c + (x - y) / (K eta).
TEST(LocalStateTest, ScaffoldCorrectsByCMinusCiAndUpdatesCi) {
  FakeInner inner;
  auto trainer = MakeLocalStateTrainer(&inner);
  const Dataset data = Examples(20);  // K = 6 steps, eta 0.5: K eta = 3
  std::vector<double> ci(5, 0.0);
  for (int round = 0; round < 2; ++round) {
    protocol::Task task = MakeTask({1, 1, 1, 1, 0});
    task.control = {0.1f * (round + 1), -0.2f, 0.3f, 0.05f, 9.0f};  // 9: a buffer coordinate
    inner.delta = {0.3f, -0.6f, 0.9f, 0.0f, 0.12f};
    TrainOutcome out;
    ASSERT_THAT(trainer->Train(task, data, nullptr, &out), IsOk());
    const protocol::Task& seen = inner.seen.back();
    ASSERT_EQ(seen.control.size(), 5u);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_NEAR(seen.control[i], task.control[i] - ci[i], 1e-6) << round << " " << i;
    }
    EXPECT_EQ(seen.control[4], 0.0f);  // buffers take no gradient step
    ASSERT_EQ(out.control_delta.size(), 5u);
    for (size_t i = 0; i < 4; ++i) {
      const double next = ci[i] - task.control[i] - inner.delta[i] / 3.0;
      EXPECT_NEAR(out.control_delta[i], next - ci[i], 1e-6) << round << " " << i;
      ci[i] = next;
    }
    EXPECT_EQ(out.control_delta[4], 0.0f);
    EXPECT_EQ(out.delta, inner.delta);
  }
}

// Li et al.: normalisation tensors are trained from this client's own values
// and uploaded as zero; the rest of the model is the global one.
TEST(LocalStateTest, FedBnKeepsNormalisationLayersLocal) {
  FakeInner inner;
  auto trainer = MakeLocalStateTrainer(&inner);
  protocol::Task first = MakeTask({1, 2, 3, 10, 20});
  first.config.local_normalization = true;
  inner.delta = {0.5f, 0.5f, 0.5f, 1.0f, -2.0f};
  TrainOutcome out;
  ASSERT_THAT(trainer->Train(first, Examples(20), nullptr, &out), IsOk());
  EXPECT_EQ(inner.seen.back().model.weights, first.model.weights);  // nothing kept yet
  EXPECT_THAT(out.delta, ::testing::ElementsAre(0.5f, 0.5f, 0.5f, 0.0f, 0.0f));

  protocol::Task second = MakeTask({4, 5, 6, 70, 80});  // a new global model
  second.config.local_normalization = true;
  ASSERT_THAT(trainer->Train(second, Examples(20), nullptr, &out), IsOk());
  // The global values of w, this client's bn values after round 1.
  EXPECT_THAT(inner.seen.back().model.weights, ::testing::ElementsAre(4, 5, 6, 11, 18));

  // Round 2 kept (11 + 1, 18 - 2); a failed task keeps nothing.
  inner.fail = absl::CancelledError("stopped");
  EXPECT_FALSE(trainer->Train(second, Examples(20), nullptr, &out).ok());
  inner.fail = absl::OkStatus();
  ASSERT_THAT(trainer->Train(second, Examples(20), nullptr, &out), IsOk());
  EXPECT_THAT(inner.seen.back().model.weights, ::testing::ElementsAre(4, 5, 6, 12, 16));
}

// The caller's state starts the task and holds the state after it: a trainer
// built over a copy of the state after round 1 continues exactly as the one
// that trained round 1.
TEST(LocalStateTest, CallersStateStartsTheTaskAndHoldsTheResult) {
  FakeInner inner;
  inner.delta = {0.3f, -0.6f, 0.9f, 0.25f, 0.5f};
  protocol::Task task = MakeTask({1, 1, 1, 1, 0});
  task.control = {0.1f, -0.2f, 0.3f, 0.05f, 9.0f};
  task.config.local_normalization = true;
  LocalState kept;
  auto first = MakeLocalStateTrainer(&inner, &kept);
  TrainOutcome out1;
  ASSERT_THAT(first->Train(task, Examples(20), nullptr, &out1), IsOk());
  EXPECT_EQ(kept.model, ModelFingerprint(task.model));
  EXPECT_EQ(kept.num_weights, 5u);
  EXPECT_EQ(kept.control, out1.control_delta);  // c_i = 0 + the change
  EXPECT_TRUE(kept.local_normalization);
  EXPECT_THAT(kept.normalization, ::testing::ElementsAre(1.25f, 0.5f));

  LocalState copy = kept;
  auto second = MakeLocalStateTrainer(&inner, &copy);
  TrainOutcome a, b;
  ASSERT_THAT(first->Train(task, Examples(20), nullptr, &a), IsOk());
  const protocol::Task seen_a = inner.seen.back();
  ASSERT_THAT(second->Train(task, Examples(20), nullptr, &b), IsOk());
  EXPECT_EQ(inner.seen.back().control, seen_a.control);
  EXPECT_EQ(inner.seen.back().model.weights, seen_a.model.weights);
  EXPECT_EQ(a.control_delta, b.control_delta);
  EXPECT_EQ(a.delta, b.delta);
  EXPECT_TRUE(kept == copy);
}

TEST(LocalStateTest, FailedTaskLeavesTheCallersStateUntouched) {
  FakeInner inner;
  inner.fail = absl::CancelledError("stopped");
  protocol::Task task = MakeTask({1, 1, 1, 1, 0});
  task.control = {0.1f, -0.2f, 0.3f, 0.05f, 0.0f};
  LocalState kept;
  auto trainer = MakeLocalStateTrainer(&inner, &kept);
  TrainOutcome out;
  EXPECT_FALSE(trainer->Train(task, Examples(20), nullptr, &out).ok());
  EXPECT_TRUE(kept.empty());
  EXPECT_TRUE(kept == LocalState());
}

// State of another model layout is never applied: the task starts from
// c_i = 0 and the global normalisation values, and replaces the state.
TEST(LocalStateTest, StateOfAnotherModelIsDroppedNotApplied) {
  FakeInner inner;
  inner.delta = {0, 0, 0, 0, 0};
  protocol::Task task = MakeTask({1, 1, 1, 7, 8});
  task.control = {0.1f, -0.2f, 0.3f, 0.05f, 0.0f};
  task.config.local_normalization = true;
  protocol::Task other = task;
  other.model.manifest.tensors[0].name = "v";  // same length, another layout
  LocalState kept;
  kept.model = ModelFingerprint(other.model);
  kept.num_weights = 5;
  kept.control = {5, 5, 5, 5, 0};
  kept.local_normalization = true;
  kept.normalization = {-1, -1};
  auto trainer = MakeLocalStateTrainer(&inner, &kept);
  TrainOutcome out;
  ASSERT_THAT(trainer->Train(task, Examples(20), nullptr, &out), IsOk());
  EXPECT_THAT(inner.seen.back().control, ::testing::ElementsAre(0.1f, -0.2f, 0.3f, 0.05f, 0.0f));
  EXPECT_THAT(inner.seen.back().model.weights, ::testing::ElementsAre(1, 1, 1, 7, 8));
  EXPECT_EQ(kept.model, ModelFingerprint(task.model));
  EXPECT_EQ(kept.control, out.control_delta);
  EXPECT_THAT(kept.normalization, ::testing::ElementsAre(7, 8));
}

TEST(LocalStateTest, OverlayWritesTheDevicesOwnNormalisationOntoItsModelOnly) {
  FakeInner inner;
  inner.delta = {0, 0, 0, 0.5f, -0.5f};
  protocol::Task task = MakeTask({1, 2, 3, 10, 20});
  task.config.local_normalization = true;
  LocalState kept;
  auto trainer = MakeLocalStateTrainer(&inner, &kept);
  TrainOutcome out;
  ASSERT_THAT(trainer->Train(task, Examples(20), nullptr, &out), IsOk());

  protocol::ModelPayload newer = MakeTask({4, 5, 6, 70, 80}).model;
  ASSERT_TRUE(OverlayLocalNormalization(kept, &newer));
  EXPECT_THAT(newer.weights, ::testing::ElementsAre(4, 5, 6, 10.5f, 19.5f));
  protocol::ModelPayload other = MakeTask({4, 5, 6, 70, 80}).model;
  other.architecture_id = "builtin:other";
  EXPECT_FALSE(OverlayLocalNormalization(kept, &other));
  EXPECT_THAT(other.weights, ::testing::ElementsAre(4, 5, 6, 70, 80));

  // A later task without FedBN: the device's model is the global one again.
  task.config.local_normalization = false;
  ASSERT_THAT(trainer->Train(task, Examples(20), nullptr, &out), IsOk());
  EXPECT_FALSE(kept.local_normalization);
  protocol::ModelPayload plain = MakeTask({4, 5, 6, 70, 80}).model;
  EXPECT_FALSE(OverlayLocalNormalization(kept, &plain));
}

}  // namespace
}  // namespace fedge::client
