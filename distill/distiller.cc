#include "distill/distiller.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "libtorch/objective.h"
#include "libtorch/torch_model.h"
#include "distill/distillation_loss.h"

namespace fedge::distill {
namespace {

using client::TorchModel;

// The teacher's logits are computed in batches of this size: much larger
// convolution batches are ~10x slower in this LibTorch build.
constexpr int64_t kTeacherBatch = 100;

absl::Status CheckOptions(const DistillOptions& o) {
  if (!(o.temperature > 0) || !std::isfinite(o.temperature)) {
    return absl::InvalidArgumentError(absl::StrCat("temperature ", o.temperature, " is not > 0"));
  }
  if (o.epochs == 0 || o.batch_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("epochs ", o.epochs, " and batch size ", o.batch_size, " must be >= 1"));
  }
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning rate ", o.learning_rate, " is not > 0"));
  }
  if (!(o.momentum >= 0 && o.momentum < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("momentum ", o.momentum, " is not in [0, 1)"));
  }
  if (o.threads < 1) return absl::InvalidArgumentError("threads must be >= 1");
  return absl::OkStatus();
}

// Builds `model` as a LibTorch module holding its weights; `what` names it
// in errors ("teacher", "student").
absl::StatusOr<std::unique_ptr<TorchModel>> Build(const protocol::ModelPayload& model,
                                                  const std::string& what) {
  absl::StatusOr<std::unique_ptr<TorchModel>> built = TorchModel::Create(
      client::Architecture{model.architecture_id, model.architecture});
  if (!built.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", built.status().message()));
  }
  if ((*built)->manifest() != model.manifest) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": its manifest does not match architecture ", model.architecture_id));
  }
  absl::Status set = (*built)->SetWeights(model.weights);
  if (!set.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", set.message()));
  return built;
}

// The examples as a [N, *shape] tensor viewing `data`'s storage (no copy):
// uint8 for bytes, float32 otherwise. Batch() turns rows into model inputs.
torch::Tensor View(const data::UnlabelledData& data) {
  std::vector<int64_t> shape = {data.size()};
  shape.insert(shape.end(), data.example_shape.begin(), data.example_shape.end());
  if (data.storage == data::Storage::kUint8) {
    return torch::from_blob(const_cast<uint8_t*>(data.bytes.data()), shape, torch::kUInt8);
  }
  return torch::from_blob(const_cast<float*>(data.features.data()), shape, torch::kFloat32);
}

// Rows `index` of View() as float32 inputs (bytes scaled to [0, 1]).
torch::Tensor Batch(const torch::Tensor& view, const torch::Tensor& index) {
  torch::Tensor rows = view.index_select(0, index);
  return rows.scalar_type() == torch::kUInt8 ? rows.to(torch::kFloat32).div_(255.0f) : rows;
}

// The teacher's [N, K] logits for every example, computed once: the teacher
// is fixed, so its soft labels are the same in every epoch.
absl::StatusOr<torch::Tensor> TeacherLogits(TorchModel& teacher, const client::Objective& objective,
                                            const torch::Tensor& view) {
  torch::NoGradGuard no_grad;
  teacher.SetTraining(false);
  const int64_t n = view.size(0);
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < n; b += kTeacherBatch) {
    const int64_t e = std::min(n, b + kTeacherBatch);
    torch::Tensor index = torch::arange(b, e, torch::kInt64);
    FEDGE_ASSIGN_OR_RETURN(torch::Tensor out,
                           objective.Shape(teacher.Forward(Batch(view, index)), e - b));
    parts.push_back(out);
  }
  return torch::cat(parts, 0);
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const std::vector<torch::Tensor>& params,
                                                       const DistillOptions& o) {
  if (o.optimizer == Optimizer::kAdam) {
    return std::make_unique<torch::optim::Adam>(params,
                                                torch::optim::AdamOptions(o.learning_rate));
  }
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(o.learning_rate).momentum(o.momentum));
}

// One pass over the examples in a shuffled order.
absl::StatusOr<EpochReport> RunEpoch(TorchModel& student, const client::Objective& objective,
                                     const torch::Tensor& view, const torch::Tensor& soft,
                                     const DistillOptions& o, std::mt19937_64& rng,
                                     torch::optim::Optimizer& optimizer) {
  const absl::Time start = absl::Now();
  const int64_t n = view.size(0);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  const torch::Tensor perm = torch::from_blob(order.data(), {n}, torch::kInt64);
  student.SetTraining(true);
  double loss_sum = 0;
  int64_t batches = 0, agree = 0;
  for (int64_t b = 0; b < n; b += o.batch_size) {
    const int64_t e = std::min(n, b + static_cast<int64_t>(o.batch_size));
    const torch::Tensor index = perm.slice(0, b, e);
    const torch::Tensor teacher = soft.index_select(0, index);
    optimizer.zero_grad();
    FEDGE_ASSIGN_OR_RETURN(torch::Tensor out,
                           objective.Shape(student.Forward(Batch(view, index)), e - b));
    torch::Tensor loss = DistillationLoss(out, teacher, o.temperature);
    loss.backward();
    optimizer.step();
    loss_sum += loss.item<double>();
    ++batches;
    agree += (out.argmax(1) == teacher.argmax(1)).sum().item<int64_t>();
  }
  EpochReport r;
  r.mean_loss = loss_sum / static_cast<double>(batches);
  r.agreement = static_cast<double>(agree) / static_cast<double>(n);
  r.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return r;
}

absl::StatusOr<DistillReport> DistillChecked(const protocol::ModelPayload& teacher_payload,
                                             const data::UnlabelledData& examples,
                                             const DistillOptions& o,
                                             protocol::ModelPayload* student_payload) {
  client::SetTorchThreads(o.threads);
  torch::manual_seed(o.seed);  // dropout in the student, if it has any
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> teacher, Build(teacher_payload, "teacher"));
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> student, Build(*student_payload, "student"));
  const client::Objective objective(teacher_payload.task);
  const torch::Tensor view = View(examples);

  DistillReport report;
  report.examples = examples.size();
  const absl::Time start = absl::Now();
  FEDGE_ASSIGN_OR_RETURN(torch::Tensor soft, TeacherLogits(*teacher, objective, view));
  report.teacher_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  teacher.reset();  // only its logits are needed from here on

  std::mt19937_64 rng(o.seed);
  std::unique_ptr<torch::optim::Optimizer> optimizer = MakeOptimizer(student->parameters(), o);
  for (uint32_t epoch = 1; epoch <= o.epochs; ++epoch) {
    FEDGE_ASSIGN_OR_RETURN(EpochReport r,
                           RunEpoch(*student, objective, view, soft, o, rng, *optimizer));
    r.epoch = epoch;
    if (o.on_epoch) o.on_epoch(r);
    report.epochs.push_back(r);
  }
  student->SetTraining(false);
  student->GetWeights(&student_payload->weights);
  return report;
}

}  // namespace

absl::Status CheckTeacher(const protocol::ModelPayload& teacher) {
  FEDGE_RETURN_IF_ERROR(protocol::ValidateTaskSpec(teacher.task));
  if (teacher.task.target != protocol::TargetKind::kClass) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the teacher solves ", protocol::DescribeTask(teacher.task),
        "; distillation needs a classes:K target (soft labels are a distribution over classes)"));
  }
  if (teacher.architecture.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the teacher's architecture bytes (", teacher.architecture_id, ") are not included"));
  }
  return client::VerifyArchitecture(teacher.architecture_id, teacher.architecture);
}

absl::StatusOr<protocol::ModelPayload> MakeStudent(const std::string& model_flag, uint64_t seed,
                                                   const protocol::TaskSpec& task,
                                                   const std::string& flag_name) {
  try {
    return client::InitialModelPayload(model_flag, seed, task, flag_name);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag_name, "=", model_flag, ": ", e.what_without_backtrace()));
  }
}

absl::StatusOr<DistillReport> Distill(const protocol::ModelPayload& teacher,
                                      const data::UnlabelledData& examples,
                                      const DistillOptions& options,
                                      protocol::ModelPayload* student) {
  FEDGE_RETURN_IF_ERROR(CheckOptions(options));
  FEDGE_RETURN_IF_ERROR(CheckTeacher(teacher));
  if (student->task != teacher.task) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the student solves ", protocol::DescribeTask(student->task), ", the teacher ",
        protocol::DescribeTask(teacher.task)));
  }
  if (examples.example_shape != teacher.task.input_shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the unlabelled examples are [", protocol::ShapeString(examples.example_shape),
        "], the teacher takes [", protocol::ShapeString(teacher.task.input_shape), "]"));
  }
  if (examples.size() == 0) return absl::InvalidArgumentError("no unlabelled examples");
  for (size_t i = 0; i < examples.features.size(); ++i) {  // bytes are always finite
    if (!std::isfinite(examples.features[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("unlabelled example ", i / static_cast<size_t>(examples.ExampleSize()),
                       " holds ", examples.features[i]));
    }
  }
  try {
    return DistillChecked(teacher, examples, options, student);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("distillation: ", e.what_without_backtrace()));
  }
}

}  // namespace fedge::distill
