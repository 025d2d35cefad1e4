// The SDK's reading of a device's data (client/sdk/device_data.h), without a
// client: how declared examples are kept, how targets are laid out for a
// task, and which values are refused before training.

#include "client/sdk/device_data.h"

#include <cmath>
#include <functional>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace fedge::sdk {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

// A source of `count` examples of `shape`; value(i, k) is feature k of
// example i, target(i, k) target value k; `calls` counts next_batch calls
// and `largest` the largest batch asked for.
struct Source {
  DataSource source;
  int count = 0, next = 0, calls = 0, largest = 0;
};

std::unique_ptr<Source> MakeSource(std::vector<int64_t> shape, int target_size, int count,
                                   std::function<float(int, int)> value,
                                   std::function<float(int, int)> target) {
  auto s = std::make_unique<Source>();
  s->count = count;
  s->source.example_shape = shape;
  s->source.target_size = target_size;
  int64_t per = 1;
  for (int64_t d : shape) per *= d;
  Source* raw = s.get();
  s->source.reset = [raw] {
    raw->next = 0;
    return 0;
  };
  s->source.next_batch = [raw, per, target_size, value, target](float* x, float* y, int max,
                                                                int* n) {
    ++raw->calls;
    raw->largest = std::max(raw->largest, max);
    const int take = std::min(max, raw->count - raw->next);
    for (int i = 0; i < take; ++i) {
      for (int64_t k = 0; k < per; ++k) x[i * per + k] = value(raw->next + i, int(k));
      for (int k = 0; k < target_size; ++k) y[i * target_size + k] = target(raw->next + i, k);
    }
    raw->next += take;
    *n = take;
    return 0;
  };
  return s;
}

protocol::TaskSpec Task(const std::string& target, std::vector<int64_t> input) {
  protocol::TaskSpec task;
  EXPECT_THAT(protocol::ParseTarget(target, "task", &task), IsOk());
  task.input_shape = std::move(input);
  return task;
}

TEST(DeviceDataTest, U8ExamplesAreKeptAsRoundedBytes) {
  auto s = MakeSource({2, 2}, 1, 3, [](int i, int k) { return (i * 4 + k) / 11.0f; },
                      [](int i, int) { return float(i % 2); });
  s->source.example_dtype = FEDGE_DTYPE_U8;
  absl::StatusOr<data::Dataset> d = LoadDeviceData(s->source, 0, 3, nullptr);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->storage, data::Storage::kUint8);
  EXPECT_TRUE(d->features.empty());
  ASSERT_EQ(d->bytes.size(), 12u);
  EXPECT_EQ(d->bytes[1], 23);  // 1/11 * 255 = 23.2
  EXPECT_EQ(d->bytes[11], 255);
  EXPECT_EQ(d->size(), 3);
}

TEST(DeviceDataTest, TargetsTakeTheTasksLayout) {
  auto s = MakeSource({3}, 6, 4, [](int, int) { return 0.5f; },
                      [](int i, int k) { return float(i * 6 + k); });
  // A real target of shape [2, 3] is given flat; the task says its shape.
  const protocol::TaskSpec real = Task("real:2,3", {3});
  absl::StatusOr<data::Dataset> d = LoadDeviceData(s->source, 0, 0, &real);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->target_shape, (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(CheckDeviceDataFitsTask(*d, s->source, real), IsOk());
  // Without a task: a vector of target_size values.
  d = LoadDeviceData(s->source, 2, 0, nullptr);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->target_shape, (std::vector<int64_t>{6}));
  EXPECT_EQ(d->size(), 2);  // max_examples
}

TEST(DeviceDataTest, LargeExamplesAreReadInSmallBatches) {
  // 3x224x224 floats: 256 at a time would be 154 MB of buffer.
  auto s = MakeSource({3, 224, 224}, 1, 5, [](int, int) { return 0.0f; },
                      [](int, int) { return 0.0f; });
  absl::StatusOr<int64_t> n = ReadAll(s->source, 0, nullptr);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(*n, 5);
  EXPECT_EQ(s->largest, 1);  // ~1 MiB of floats a batch
}

TEST(DeviceDataTest, ValuesThatDoNotFitTheTaskAreRefusedNamingTheExample) {
  auto s = MakeSource({4}, 3, 5, [](int, int) { return 0.1f; },
                      [](int i, int k) { return i == 2 && k == 1 ? 0.5f : 1.0f; });
  absl::StatusOr<data::Dataset> d = LoadDeviceData(s->source, 0, 0, nullptr);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(CheckDeviceDataFitsTask(*d, s->source, Task("multilabel:3", {4})),
              StatusIs(absl::StatusCode::kDataLoss, "example 2 has target 0.5, want 0 or 1"));
  EXPECT_THAT(CheckDeviceDataFitsTask(*d, s->source, Task("multilabel:3", {2, 2})),
              StatusIs(absl::StatusCode::kDataLoss,
                       "examples are [4] but the model's task declares input [2,2]"));
  EXPECT_THAT(CheckDeviceDataFitsTask(*d, s->source, Task("binary", {4})),
              StatusIs(absl::StatusCode::kDataLoss,
                       "target_size is 3 but the model's target binary has 1 value(s)"));

  auto inf = MakeSource({4}, 1, 5, [](int, int) { return 0.0f; },
                        [](int i, int) { return i == 4 ? INFINITY : 0.0f; });
  EXPECT_THAT(ReadAll(inf->source, 0, nullptr),
              StatusIs(absl::StatusCode::kDataLoss, "example 4 has target value 0 = inf"));
}

TEST(DeviceDataTest, DeclarationsAreChecked) {
  DataSource s;
  s.example_shape = {30};
  EXPECT_THAT(ValidateDeclaration(s), IsOk());
  s.example_shape = {1 << 20, 1 << 20};
  EXPECT_THAT(ValidateDeclaration(s),
              StatusIs(absl::StatusCode::kInvalidArgument, "data.example_shape [1048576,1048576] has over"));
  s.example_shape = {};
  EXPECT_THAT(ValidateDeclaration(s),
              StatusIs(absl::StatusCode::kInvalidArgument, "data.example_shape has 0 dimensions"));
}

}  // namespace
}  // namespace fedge::sdk
