#include "libtorch/objective.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge::client {
namespace {

using protocol::LossKind;
using protocol::TargetKind;

std::vector<int64_t> WithBatch(int64_t n, const std::vector<int64_t>& shape) {
  std::vector<int64_t> out{n};
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

std::string Sizes(const torch::Tensor& t) { return c10::str(t.sizes()); }

// Byte images as the model sees them: float32 scaled to [0, 1] (a new
// tensor); float features as they are.
torch::Tensor AsModelInput(const torch::Tensor& examples) {
  if (examples.scalar_type() == torch::kUInt8) return examples.to(torch::kFloat32).div_(255.0f);
  return examples;
}

}  // namespace

torch::Tensor ExamplesTensor(const data::Dataset& data) {
  const torch::Tensor view = ExamplesView(data);
  return view.scalar_type() == torch::kUInt8 ? AsModelInput(view) : view.clone();
}

torch::Tensor ExamplesView(const data::Dataset& data) {
  const std::vector<int64_t> shape = WithBatch(data.size(), data.example_shape);
  if (data.storage == data::Storage::kUint8) {
    return torch::from_blob(const_cast<uint8_t*>(data.bytes.data()), shape, torch::kUInt8);
  }
  return torch::from_blob(const_cast<float*>(data.features.data()), shape, torch::kFloat32);
}

torch::Tensor ExamplesBatch(const torch::Tensor& view, const torch::Tensor& idx) {
  return AsModelInput(view.index_select(0, idx));
}

torch::Tensor TargetsTensor(const data::Dataset& data, const protocol::TaskSpec& task) {
  const int64_t n = data.size();
  torch::Tensor flat =
      torch::from_blob(const_cast<float*>(data.targets.data()),
                       {static_cast<int64_t>(data.targets.size())}, torch::kFloat32);
  switch (task.target) {
    case TargetKind::kClass:
      return flat.to(torch::kInt64);
    case TargetKind::kBinary:
      return flat.clone();
    case TargetKind::kMultiLabel:
      return flat.reshape({n, static_cast<int64_t>(task.num_classes)}).clone();
    case TargetKind::kReal:
      return flat.reshape(WithBatch(n, task.target_shape)).clone();
  }
  return flat.clone();
}

absl::StatusOr<torch::Tensor> Objective::Shape(const torch::Tensor& output, int64_t n) const {
  const auto fail = [&](const std::string& want) {
    return absl::InvalidArgumentError(absl::StrCat("the model maps ", n, " examples to ",
                                                   Sizes(output), " ",
                                                   c10::toString(output.scalar_type()),
                                                   "; target ", protocol::TargetName(task_),
                                                   " wants ", want, " float32"));
  };
  if (output.scalar_type() != torch::kFloat32 || output.dim() == 0 || output.size(0) != n) {
    return fail("outputs with the examples along the first dimension, as");
  }
  const int64_t k = task_.num_classes;
  switch (task_.target) {
    case TargetKind::kClass:
    case TargetKind::kMultiLabel:
      if (output.dim() != 2 || output.size(1) != k) return fail(absl::StrCat("[", n, ", ", k, "]"));
      return output;
    case TargetKind::kBinary:
      if (output.numel() != n || output.dim() > 2) return fail(absl::StrCat("[", n, "] or [", n, ", 1]"));
      return output.reshape({n});
    case TargetKind::kReal: {
      const std::vector<int64_t> want = WithBatch(n, task_.target_shape);
      if (output.numel() != n * task_.TargetSize()) {
        return fail(absl::StrCat("[", protocol::ShapeString(want), "]"));
      }
      return output.reshape(want);
    }
  }
  return output;
}

torch::Tensor Objective::Loss(TorchModel& model, const torch::Tensor& x, const torch::Tensor& shaped,
                              const torch::Tensor& y) const {
  namespace F = torch::nn::functional;
  switch (task_.loss) {
    case LossKind::kCrossEntropy:
      return F::cross_entropy(shaped, y);
    case LossKind::kBceWithLogits:
      return F::binary_cross_entropy_with_logits(shaped, y);
    case LossKind::kMse:
      return F::mse_loss(shaped, y);
    case LossKind::kL1:
      return F::l1_loss(shaped, y);
    case LossKind::kModule:
      return model.TrainingLoss(x, y);
  }
  return F::mse_loss(shaped, y);
}

void Objective::Add(const torch::Tensor& shaped, const torch::Tensor& y, double loss,
                    MetricSums* sums) const {
  torch::NoGradGuard no_grad;
  const int64_t n = shaped.size(0);
  sums->loss_sum += loss * static_cast<double>(n);
  sums->examples += n;
  switch (task_.target) {
    case TargetKind::kClass:
      sums->correct += shaped.argmax(1).eq(y).sum().item<int64_t>();
      sums->labels += n;
      break;
    case TargetKind::kBinary:
    case TargetKind::kMultiLabel:
      sums->correct += shaped.gt(0).eq(y.gt(0.5)).sum().item<int64_t>();
      sums->labels += y.numel();
      break;
    case TargetKind::kReal: {
      torch::Tensor err = shaped.detach() - y;
      sums->squared_error += err.square().sum().item<double>();
      sums->absolute_error += err.abs().sum().item<double>();
      sums->values += y.numel();
      break;
    }
  }
}

EvalResult Summarize(const MetricSums& sums, const protocol::TaskSpec& task) {
  EvalResult r;
  r.examples = sums.examples;
  r.loss = sums.examples ? sums.loss_sum / sums.examples : 0;
  r.has_accuracy = task.HasAccuracy();
  if (sums.labels) r.accuracy = sums.correct / sums.labels;
  if (sums.values) {
    r.mse = sums.squared_error / sums.values;
    r.mae = sums.absolute_error / sums.values;
  }
  return r;
}

absl::Status CheckModelFitsTask(TorchModel& model, const protocol::TaskSpec& task) {
  if (task.loss == LossKind::kModule && !model.HasTrainingLoss()) {
    return absl::InvalidArgumentError(
        "--loss=module needs a TorchScript model with a training_loss(input, target) method");
  }
  try {
    torch::NoGradGuard no_grad;
    model.SetTraining(false);
    torch::Tensor x = torch::zeros(WithBatch(2, task.input_shape), torch::kFloat32);
    torch::Tensor out = model.Forward(x);
    return Objective(task).Shape(out, 2).status();
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model does not take inputs [2,", protocol::ShapeString(task.input_shape),
        "] (the task's input shape with a batch of 2): ", e.what_without_backtrace()));
  }
}

}  // namespace fedge::client
