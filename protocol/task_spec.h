#ifndef FEDGE_PROTOCOL_TASK_SPEC_H_
#define FEDGE_PROTOCOL_TASK_SPEC_H_

// What a model learns: the shape of one input example, the kind of target,
// the loss and so the metrics. It travels with every model (ModelPayload) and
// is part of what the coordinator signs, so a device knows how to feed its
// data to the model, and what the outputs mean, from the signed model alone.
// No torch here.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedge::protocol {

enum class TargetKind : uint8_t {
  kClass = 0,       // one class index in [0, num_classes); output [N, num_classes] logits
  kBinary = 1,      // 0 or 1; output [N] or [N, 1] logits
  kMultiLabel = 2,  // num_classes values, each 0 or 1; output [N, num_classes] logits
  kReal = 3,        // real values of target_shape; output [N, target_shape...]
};
inline constexpr uint8_t kMaxTargetKind = 3;

enum class LossKind : uint8_t {
  kCrossEntropy = 0,   // kClass
  kBceWithLogits = 1,  // kBinary, kMultiLabel
  kMse = 2,            // kReal
  kL1 = 3,             // kReal
  // The TorchScript module's own `training_loss(input, target)` method.
  kModule = 4,
};
inline constexpr uint8_t kMaxLossKind = 4;

// Input examples are float32 tensors; this is the only element type a model
// is fed (datasets may store uint8, scaled to [0, 1], to save memory).
enum class InputDType : uint8_t { kFloat32 = 1 };

// Default-constructed, the Fashion-MNIST task of the built-in models.
struct TaskSpec {
  std::vector<int64_t> input_shape = {1, 28, 28};  // one example, e.g. {30}
  InputDType input_dtype = InputDType::kFloat32;
  TargetKind target = TargetKind::kClass;
  uint32_t num_classes = 10;          // kClass, kMultiLabel; 0 otherwise
  std::vector<int64_t> target_shape;  // kReal: one example's target ({} = a scalar)
  LossKind loss = LossKind::kCrossEntropy;

  bool operator==(const TaskSpec& o) const {
    return input_shape == o.input_shape && input_dtype == o.input_dtype && target == o.target &&
           num_classes == o.num_classes && target_shape == o.target_shape && loss == o.loss;
  }
  bool operator!=(const TaskSpec& o) const { return !(*this == o); }

  int64_t InputSize() const;   // product of input_shape
  // Values of one example's target: 1 for kClass and kBinary, num_classes
  // for kMultiLabel, the product of target_shape for kReal.
  int64_t TargetSize() const;
  // Whether accuracy is a metric (class, binary, multi-label targets); real
  // targets report MSE and MAE instead.
  bool HasAccuracy() const { return target != TargetKind::kReal; }
};

// Limits that also bound the wire decoder.
inline constexpr size_t kMaxTaskRank = 8;
inline constexpr int64_t kMaxTaskElements = int64_t{1} << 28;
inline constexpr uint32_t kMaxClasses = 1u << 20;

// The task the built-in `mlp` and `cnn` models solve: 28x28 single-channel
// images (Fashion-MNIST), 10 classes, cross-entropy.
TaskSpec FashionMnistTask();

// The natural loss for a target kind (cross-entropy, BCE with logits, MSE).
LossKind DefaultLoss(TargetKind target);

// Checks shapes (positive dims, rank <= kMaxTaskRank, sizes bounded), class
// counts (>= 2 for kClass, >= 1 for kMultiLabel, 0 otherwise), enum values,
// and that the loss fits the target. InvalidArgument saying what is wrong.
absl::Status ValidateTaskSpec(const TaskSpec& spec);

// "input [1,28,28] float32, target 10 classes, loss cross_entropy".
std::string DescribeTask(const TaskSpec& spec);

// Flag syntax. Shapes: "30" or "1,28,28". Targets: "classes:K", "binary",
// "multilabel:K", "real" or "real:D1,D2". Losses: "auto" (the target's
// default), "cross_entropy", "bce", "mse", "l1", "module". Each error names
// `flag` and lists what is accepted.
absl::StatusOr<std::vector<int64_t>> ParseShape(const std::string& text, const std::string& flag);
absl::Status ParseTarget(const std::string& text, const std::string& flag, TaskSpec* spec);
absl::StatusOr<LossKind> ParseLoss(const std::string& text, TargetKind target,
                                   const std::string& flag);
std::string LossName(LossKind loss);
std::string TargetName(const TaskSpec& spec);  // "classes:10", "binary", "real:3"...
std::string ShapeString(const std::vector<int64_t>& shape);  // "1,28,28"; "" for a scalar

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_TASK_SPEC_H_
