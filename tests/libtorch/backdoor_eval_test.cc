// The backdoor attack's success rate as the coordinator measures it
// (MakeBackdoorEvaluator), on the built-in mlp with hand-set weights.

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/attack.h"
#include "client/trainer.h"
#include "tests/testing/status_matchers.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;

constexpr uint8_t kTarget = 2;

// 100 blank 28x28 images, labels i % 10: 90 of them are not of kTarget.
Dataset BlankTestSet() {
  Dataset d;
  d.example_shape = {1, 28, 28};
  d.storage = data::Storage::kUint8;
  d.bytes.assign(100 * 784, 0);
  for (int i = 0; i < 100; ++i) d.targets.push_back(static_cast<float>(i % 10));
  return d;
}

// The mlp (784-200-200-10) with every weight zero; the offsets of its tensors.
struct Mlp {
  protocol::ModelPayload payload;
  size_t fc1_w = 0, fc2_w = 0, fc3_w = 0, fc3_b = 0;

  Mlp() {
    absl::StatusOr<protocol::ModelPayload> m = MakeInitialModel("mlp", 0, protocol::TaskSpec());
    EXPECT_THAT(m, IsOk());
    payload = *std::move(m);
    std::fill(payload.weights.begin(), payload.weights.end(), 0.0f);
    size_t offset = 0;
    for (const protocol::TensorSpec& t : payload.manifest.tensors) {
      if (t.name == "fc1.weight") fc1_w = offset;
      if (t.name == "fc2.weight") fc2_w = offset;
      if (t.name == "fc3.weight") fc3_w = offset;
      if (t.name == "fc3.bias") fc3_b = offset;
      offset += t.NumElements();
    }
  }

  double Success(const Dataset& test) const {
    absl::StatusOr<std::unique_ptr<ModelEvaluator>> e =
        MakeBackdoorEvaluator(payload.architecture_id, payload.architecture, protocol::TaskSpec(), test, kTarget);
    EXPECT_THAT(e, IsOk());
    absl::StatusOr<EvalResult> r = (*e)->Evaluate(payload.weights);
    EXPECT_THAT(r, IsOk());
    EXPECT_EQ(r->examples, 90);  // the images of the target class do not count
    return r->accuracy;
  }
};

TEST(BackdoorEvalTest, AModelThatAlwaysSaysTheTargetScoresOne) {
  Mlp mlp;
  mlp.payload.weights[mlp.fc3_b + kTarget] = 1;
  EXPECT_DOUBLE_EQ(mlp.Success(BlankTestSet()), 1.0);
}

TEST(BackdoorEvalTest, AModelThatNeverSaysTheTargetScoresZero) {
  Mlp mlp;
  mlp.payload.weights[mlp.fc3_b + 7] = 1;
  EXPECT_DOUBLE_EQ(mlp.Success(BlankTestSet()), 0.0);
}

// A backdoored model: class 7 for clean images, the target when the 4x4
// trigger is there. Its clean accuracy on class-7 images is perfect, and the
// backdoor fires on every triggered image.
TEST(BackdoorEvalTest, TheTriggerIsWhatFiresTheBackdoor) {
  Mlp mlp;
  std::vector<float>& w = mlp.payload.weights;
  for (int r = 28 - kTriggerSize; r < 28; ++r) {
    for (int c = 28 - kTriggerSize; c < 28; ++c) w[mlp.fc1_w + r * 28 + c] = 1;  // unit 0
  }
  w[mlp.fc2_w + 0] = 1;             // fc2 unit 0 <- fc1 unit 0
  w[mlp.fc3_w + kTarget * 200] = 1;  // target logit <- fc2 unit 0 (16 when triggered)
  w[mlp.fc3_b + 7] = 0.5f;          // otherwise class 7
  EXPECT_DOUBLE_EQ(mlp.Success(BlankTestSet()), 1.0);

  Dataset sevens = BlankTestSet();
  std::fill(sevens.targets.begin(), sevens.targets.end(), 7);
  absl::StatusOr<std::unique_ptr<ModelEvaluator>> clean = MakeTorchEvaluator(
      mlp.payload.architecture_id, mlp.payload.architecture, protocol::TaskSpec(), sevens);
  ASSERT_THAT(clean, IsOk());
  absl::StatusOr<EvalResult> r = (*clean)->Evaluate(w);
  ASSERT_THAT(r, IsOk());
  EXPECT_DOUBLE_EQ(r->accuracy, 1.0);
}

}  // namespace
}  // namespace fedge::client
