#ifndef FEDGE_LIBTORCH_OBJECTIVE_H_
#define FEDGE_LIBTORCH_OBJECTIVE_H_

// What training minimises and evaluation reports, from a model's task
// (protocol/task_spec.h): the data as tensors, the loss, the metrics, and the
// check that a model's outputs fit the target. Includes torch.
//
// Output shapes per target: classes:K [N, K] logits; binary [N] or [N, 1]
// logits; multilabel:K [N, K] logits; real [N, *target_shape] (a scalar
// target also takes [N, 1]). Metrics: loss always; accuracy for classes
// (argmax), binary (logit > 0) and multi-label (share of labels right); MSE
// and MAE (mean over target values) for real targets.

#include <cstdint>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libtorch/torch_model.h"
#include "client/trainer.h"
#include "data/dataset.h"
#include "protocol/task_spec.h"

namespace fedge::client {

// The examples as one [N, *example_shape] float32 tensor (bytes scaled to
// [0, 1]); a copy, so it may be indexed freely.
torch::Tensor ExamplesTensor(const data::Dataset& data);

// The examples without a copy: a [N, *example_shape] view of the data set's
// own storage (uint8 or float32), valid while `data` lives and is unchanged.
torch::Tensor ExamplesView(const data::Dataset& data);
// Rows `idx` (int64) of a view as a float32 batch: the same values as those
// rows of ExamplesTensor, converted for this batch only.
torch::Tensor ExamplesBatch(const torch::Tensor& view, const torch::Tensor& idx);

// The targets as the loss wants them: int64 [N] class indices, float [N]
// for binary, float [N, K] for multi-label, float [N, *target_shape] real.
torch::Tensor TargetsTensor(const data::Dataset& data, const protocol::TaskSpec& task);

// Running sums over batches.
struct MetricSums {
  double loss_sum = 0;  // per-example loss summed
  int64_t examples = 0;
  double correct = 0;  // labels right (accuracy's numerator)
  int64_t labels = 0;  // labels judged (its denominator)
  double squared_error = 0, absolute_error = 0;
  int64_t values = 0;  // real target values compared
};

class Objective {
 public:
  explicit Objective(const protocol::TaskSpec& task) : task_(task) {}

  // `output` as the target wants it ([N, K], [N] or [N, *target_shape]);
  // InvalidArgument saying what was expected otherwise.
  absl::StatusOr<torch::Tensor> Shape(const torch::Tensor& output, int64_t n) const;

  // The batch's mean loss, differentiable. `shaped` is Shape()'s result.
  torch::Tensor Loss(TorchModel& model, const torch::Tensor& x, const torch::Tensor& shaped,
                     const torch::Tensor& y) const;

  // Adds the batch to `sums`: its mean loss (`loss`, of Loss()) and metrics.
  void Add(const torch::Tensor& shaped, const torch::Tensor& y, double loss,
           MetricSums* sums) const;

  const protocol::TaskSpec& task() const { return task_; }

 private:
  protocol::TaskSpec task_;
};

// The metrics `sums` add up to.
EvalResult Summarize(const MetricSums& sums, const protocol::TaskSpec& task);

// Runs the model on two zero examples of the task's input shape and checks
// the outputs fit the target (and that a kModule task's model has
// training_loss). InvalidArgument saying what the model did otherwise.
absl::Status CheckModelFitsTask(TorchModel& model, const protocol::TaskSpec& task);

}  // namespace fedge::client

#endif  // FEDGE_LIBTORCH_OBJECTIVE_H_
