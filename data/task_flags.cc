#include "data/task_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"

ABSL_FLAG(std::string, task, "classes:10",
          "What the model learns: classes:K (class index, cross-entropy), binary (0/1, BCE with "
          "logits), multilabel:K (K 0/1 labels, BCE), real or real:D1,D2 (real values, MSE). "
          "The model must output [N,K] logits, [N] or [N,1] logits, [N,K] logits, or "
          "[N,D1,D2...] values. Signed into every model");
ABSL_FLAG(std::string, input_shape, "",
          "One example's shape, e.g. 30 or 1,28,28; empty: the shape of the data "
          "(--test_data, or fedge-sim's training data), else 1,28,28");
ABSL_FLAG(std::string, loss, "auto",
          "auto (the target's natural loss), cross_entropy, bce, mse, l1, or module (the "
          "TorchScript model's own training_loss(input, target) method)");
ABSL_FLAG(std::string, label_column, "label",
          "CSV data: the target column (several: comma-separated)");

namespace fedge::data {

absl::StatusOr<protocol::TaskSpec> TaskFromFlags(const std::vector<int64_t>& data_shape) {
  protocol::TaskSpec task;
  FEDGE_RETURN_IF_ERROR(protocol::ParseTarget(absl::GetFlag(FLAGS_task), "task", &task));
  FEDGE_ASSIGN_OR_RETURN(task.loss,
                         protocol::ParseLoss(absl::GetFlag(FLAGS_loss), task.target, "loss"));
  FEDGE_ASSIGN_OR_RETURN(task.input_shape,
                         protocol::ParseShape(absl::GetFlag(FLAGS_input_shape), "input_shape"));
  if (task.input_shape.empty()) {
    task.input_shape =
        data_shape.empty() ? protocol::FashionMnistTask().input_shape : data_shape;
  }
  absl::Status s = protocol::ValidateTaskSpec(task);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--task/--input_shape/--loss: ", s.message()));
  }
  return task;
}

std::vector<std::string> TaskFlagArgs(const protocol::TaskSpec& task) {
  return {absl::StrCat("--task=", protocol::TargetName(task)),
          absl::StrCat("--input_shape=", protocol::ShapeString(task.input_shape)),
          absl::StrCat("--loss=", protocol::LossName(task.loss))};
}

SourceOptions SourceOptionsFromFlags(const std::string& split) {
  SourceOptions o;
  o.split = split;
  o.target_columns = absl::StrSplit(absl::GetFlag(FLAGS_label_column), ',');
  return o;
}

std::string LabelColumnArg() {
  return absl::StrCat("--label_column=", absl::GetFlag(FLAGS_label_column));
}

}  // namespace fedge::data
