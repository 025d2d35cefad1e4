#include "protocol/task_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::protocol {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

TEST(TaskSpecTest, TheDefaultIsTheFashionMnistTask) {
  const TaskSpec t;
  EXPECT_EQ(t.input_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(t.TargetSize(), 1);
  EXPECT_EQ(t.InputSize(), 784);
  EXPECT_THAT(ValidateTaskSpec(t), IsOk());
  EXPECT_EQ(DescribeTask(t), "input [1,28,28] float32, target classes:10, loss cross_entropy");
  EXPECT_EQ(t, FashionMnistTask());
}

TEST(TaskSpecTest, TargetsParseWithTheirNaturalLoss) {
  TaskSpec t;
  ASSERT_THAT(ParseTarget("binary", "task", &t), IsOk());
  EXPECT_EQ(t.target, TargetKind::kBinary);
  EXPECT_EQ(t.num_classes, 0u);
  EXPECT_EQ(t.loss, LossKind::kBceWithLogits);
  ASSERT_THAT(ParseTarget("multilabel:5", "task", &t), IsOk());
  EXPECT_EQ(t.TargetSize(), 5);
  EXPECT_EQ(t.loss, LossKind::kBceWithLogits);
  ASSERT_THAT(ParseTarget("real:2,3", "task", &t), IsOk());
  EXPECT_EQ(t.target_shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.TargetSize(), 6);
  EXPECT_EQ(t.loss, LossKind::kMse);
  EXPECT_FALSE(t.HasAccuracy());
  EXPECT_EQ(TargetName(t), "real:2,3");
  ASSERT_THAT(ParseTarget("classes:3", "task", &t), IsOk());
  EXPECT_TRUE(t.target_shape.empty());
  EXPECT_EQ(t.num_classes, 3u);
}

TEST(TaskSpecTest, BadFlagsNameTheFlagAndWhatIsAccepted) {
  TaskSpec t;
  for (const char* bad : {"classes:1", "classes:x", "classes", "binary:2", "regression", "real:0",
                          "multilabel:0", ""}) {
    EXPECT_THAT(ParseTarget(bad, "task", &t),
                StatusIs(absl::StatusCode::kInvalidArgument, "want classes:K"))
        << bad;
  }
  EXPECT_THAT(ParseShape("1,x", "input_shape"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--input_shape=1,x"));
  EXPECT_THAT(ParseShape("0", "input_shape"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseShape("1,2,3,4,5,6,7,8,9", "input_shape"),
              StatusIs(absl::StatusCode::kInvalidArgument, "rank 9"));
  EXPECT_THAT(ParseLoss("hinge", TargetKind::kClass, "loss"),
              StatusIs(absl::StatusCode::kInvalidArgument, "want auto, cross_entropy"));
  EXPECT_THAT(ParseLoss("mse", TargetKind::kClass, "loss"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--loss=mse does not fit a classes"));
  absl::StatusOr<LossKind> l1 = ParseLoss("l1", TargetKind::kReal, "loss");
  ASSERT_THAT(l1, IsOk());
  EXPECT_EQ(*l1, LossKind::kL1);
  absl::StatusOr<LossKind> module = ParseLoss("module", TargetKind::kBinary, "loss");
  ASSERT_THAT(module, IsOk());
}

TEST(TaskSpecTest, ValidationRefusesInconsistentSpecs) {
  TaskSpec t;
  t.num_classes = 1;
  EXPECT_THAT(ValidateTaskSpec(t), StatusIs(absl::StatusCode::kInvalidArgument, "2 to"));
  t = TaskSpec();
  t.target = TargetKind::kBinary;  // num_classes still 10
  t.loss = LossKind::kBceWithLogits;
  EXPECT_THAT(ValidateTaskSpec(t), StatusIs(absl::StatusCode::kInvalidArgument, "num_classes"));
  t = TaskSpec();
  t.target_shape = {3};
  EXPECT_THAT(ValidateTaskSpec(t),
              StatusIs(absl::StatusCode::kInvalidArgument, "only real targets have a target shape"));
  t = TaskSpec();
  t.input_shape = {int64_t{1} << 20, int64_t{1} << 20};
  EXPECT_THAT(ValidateTaskSpec(t), StatusIs(absl::StatusCode::kInvalidArgument, "elements"));
  t = TaskSpec();
  t.input_shape.clear();
  EXPECT_THAT(ValidateTaskSpec(t), StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
  t = TaskSpec();
  t.loss = static_cast<LossKind>(9);
  EXPECT_THAT(ValidateTaskSpec(t), StatusIs(absl::StatusCode::kInvalidArgument, "unknown"));
}

}  // namespace
}  // namespace fedge::protocol
