#ifndef FEDGE_DATA_DATASET_H_
#define FEDGE_DATA_DATASET_H_

// Examples and targets of any shape, held without torch. Features are stored
// as float32, or as uint8 where that saves memory (images from IDX or .npy
// files), a byte v meaning v / 255. Targets are float32: class indices and
// 0/1 labels are stored exactly (integers below 2^24), real targets as given.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "protocol/task_spec.h"

namespace fedge::data {

enum class Storage : uint8_t {
  kFloat32 = 0,
  kUint8 = 1,  // byte v is the feature v / 255
};

struct Dataset {
  std::vector<int64_t> example_shape;  // one example, e.g. {1, 28, 28} or {30}
  Storage storage = Storage::kFloat32;
  std::vector<float> features;  // kFloat32: size() * ExampleSize() values
  std::vector<uint8_t> bytes;   // kUint8: size() * ExampleSize() values
  std::vector<int64_t> target_shape;  // one example's target; {} = a scalar
  std::vector<float> targets;         // size() * TargetSize() values

  int64_t ExampleSize() const;  // product of example_shape
  int64_t TargetSize() const;   // product of target_shape
  int64_t size() const { return TargetSize() ? static_cast<int64_t>(targets.size()) / TargetSize() : 0; }
  // Feature k of example i, as the model sees it (bytes scaled to [0, 1]).
  float Feature(int64_t i, int64_t k) const;
  // The first target value of example i (its class index for class targets).
  float Target(int64_t i) const { return targets[static_cast<size_t>(i * TargetSize())]; }
};

// Checks that the storage sizes add up for size() examples. InvalidArgument
// naming `what` (a file or a client) otherwise.
absl::Status CheckConsistent(const Dataset& data, const std::string& what);

// Checks that `data` can train or evaluate a model of `task`, before any
// training starts: the example shape equals task.input_shape; no feature is
// NaN or infinite; class indices are integers in [0, num_classes); binary and
// multi-label targets are 0 or 1; real targets are finite and of
// task.target_shape. InvalidArgument names `what`, the first bad example and
// the value.
absl::Status CheckFitsTask(const Dataset& data, const protocol::TaskSpec& task,
                           const std::string& what);

// The examples at `indices`, in that order. OutOfRange on a bad index.
absl::StatusOr<Dataset> Subset(const Dataset& data, absl::Span<const int64_t> indices);

}  // namespace fedge::data

#endif  // FEDGE_DATA_DATASET_H_
