#include "data/dataset.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::data {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

Dataset Features(int64_t n, int64_t d) {
  Dataset data;
  data.example_shape = {d};
  for (int64_t i = 0; i < n * d; ++i) data.features.push_back(static_cast<float>(i));
  for (int64_t i = 0; i < n; ++i) data.targets.push_back(static_cast<float>(i % 2));
  return data;
}

protocol::TaskSpec Task(const std::string& target, std::vector<int64_t> input) {
  protocol::TaskSpec t;
  EXPECT_THAT(protocol::ParseTarget(target, "task", &t), IsOk());
  t.input_shape = std::move(input);
  return t;
}

TEST(DatasetTest, SubsetPicksExamplesOfBothStoragesAndChecksIndices) {
  Dataset bytes;
  bytes.example_shape = {1, 2};
  bytes.storage = Storage::kUint8;
  bytes.bytes = {1, 2, 3, 4, 5, 6};
  bytes.targets = {7, 8, 9};
  absl::StatusOr<Dataset> s = Subset(bytes, std::vector<int64_t>{2, 0});
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->bytes, (std::vector<uint8_t>{5, 6, 1, 2}));
  EXPECT_EQ(s->targets, (std::vector<float>{9, 7}));
  EXPECT_FLOAT_EQ(s->Feature(0, 1), 6 / 255.0f);
  EXPECT_THAT(Subset(bytes, std::vector<int64_t>{3}), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(Subset(bytes, std::vector<int64_t>{-1}), StatusIs(absl::StatusCode::kOutOfRange));

  Dataset floats = Features(3, 2);
  floats.target_shape = {};
  s = Subset(floats, std::vector<int64_t>{1});
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->features, (std::vector<float>{2, 3}));
  EXPECT_EQ(s->size(), 1);
}

TEST(DatasetTest, FittingDataPasses) {
  EXPECT_THAT(CheckFitsTask(Features(4, 3), Task("binary", {3}), "d"), IsOk());
  EXPECT_THAT(CheckFitsTask(Features(4, 3), Task("classes:2", {3}), "d"), IsOk());
  EXPECT_THAT(CheckFitsTask(Features(4, 3), Task("real", {3}), "d"), IsOk());
  Dataset one = Features(4, 3);
  one.target_shape = {1};  // a [N, 1] targets file for a scalar target
  EXPECT_THAT(CheckFitsTask(one, Task("real", {3}), "d"), IsOk());
}

TEST(DatasetTest, WrongShapeIsRefusedNamingBothShapes) {
  EXPECT_THAT(CheckFitsTask(Features(4, 3), Task("binary", {1, 28, 28}), "client 3"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "client 3: examples are [3] but the model's task declares input [1,28,28]"));
  Dataset multi = Features(4, 3);
  EXPECT_THAT(CheckFitsTask(multi, Task("multilabel:2", {3}), "d"),
              StatusIs(absl::StatusCode::kInvalidArgument, "wants [2]"));
}

TEST(DatasetTest, LabelsOutOfRangeAreRefusedNamingTheExample) {
  Dataset d = Features(4, 3);
  d.targets[2] = 10;
  EXPECT_THAT(CheckFitsTask(d, Task("classes:10", {3}), "--train_data x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--train_data x: example 2 has target 10, want a class index in [0, 10)"));
  d.targets[2] = 1.5f;
  EXPECT_THAT(CheckFitsTask(d, Task("classes:10", {3}), "d"),
              StatusIs(absl::StatusCode::kInvalidArgument, "example 2"));
  d.targets[2] = -1;
  EXPECT_THAT(CheckFitsTask(d, Task("classes:10", {3}), "d"),
              StatusIs(absl::StatusCode::kInvalidArgument, "example 2"));
  d.targets[2] = 2;
  EXPECT_THAT(CheckFitsTask(d, Task("binary", {3}), "d"),
              StatusIs(absl::StatusCode::kInvalidArgument, "want 0 or 1"));
  d.targets[2] = NAN;
  EXPECT_THAT(CheckFitsTask(d, Task("real", {3}), "d"),
              StatusIs(absl::StatusCode::kInvalidArgument, "want a finite value"));
}

TEST(DatasetTest, NanOrInfiniteFeaturesAreRefusedNamingTheExample) {
  for (float bad : {NAN, INFINITY}) {
    Dataset d = Features(4, 3);
    d.features[7] = bad;  // example 2, feature 1
    EXPECT_THAT(CheckFitsTask(d, Task("binary", {3}), "d"),
                StatusIs(absl::StatusCode::kInvalidArgument, "example 2 has feature 1"));
  }
}

TEST(DatasetTest, InconsistentStorageIsRefused) {
  Dataset d = Features(4, 3);
  d.features.pop_back();
  EXPECT_THAT(CheckConsistent(d, "d"),
              StatusIs(absl::StatusCode::kInvalidArgument, "11 feature values for 4 examples"));
  EXPECT_THAT(CheckFitsTask(d, Task("binary", {3}), "d"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fedge::data
