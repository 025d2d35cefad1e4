#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "aggregation/kernels.h"
#include "aggregation/norm_bound.h"
#include "base/status_macros.h"
#include "client/attack.h"
#include "libtorch/objective.h"
#include "libtorch/torch_model.h"
#include "compression/pruning.h"
#include "client/trainer.h"

namespace fedge::client {
namespace {

// Returns the heap's free pages to the kernel (glibc; elsewhere a no-op).
void ReleaseFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// The model's metrics on `examples`, in batches of ~100 (much larger conv
// batches are ~10x slower in this build).
absl::StatusOr<MetricSums> EvaluateBatches(TorchModel& model, const Objective& objective,
                                           const torch::Tensor& examples,
                                           const torch::Tensor& targets) {
  MetricSums sums;
  FEDGE_RETURN_IF_ERROR(CatchTorch([&] {
    torch::NoGradGuard no_grad;
    model.SetTraining(false);
    constexpr int64_t kBatch = 100;
    const int64_t n = examples.size(0);
    for (int64_t b = 0; b < n; b += kBatch) {
      const int64_t e = std::min(n, b + kBatch);
      torch::Tensor x = examples.slice(0, b, e);
      torch::Tensor y = targets.slice(0, b, e);
      FEDGE_ASSIGN_OR_RETURN(torch::Tensor out, objective.Shape(model.Forward(x), e - b));
      objective.Add(out, y, objective.Loss(model, x, out, y).item<double>(), &sums);
    }
    return absl::OkStatus();
  }, "evaluation"));
  return sums;
}

class TorchTrainer final : public Trainer {
 public:
  explicit TorchTrainer(const TorchTrainerOptions& options)
      : keep_models_(options.keep_models), clock_(options.clock) {
    torch::set_num_threads(std::max(1, options.threads));
  }

  absl::Status Train(const protocol::Task& task, const Dataset& data,
                     const StopPredicate& should_stop, TrainOutcome* out) override {
    absl::Status status = TrainFreshModel(task, data, should_stop, out);
    // Everything the task allocated (model, gradients, optimizer, the data
    // as tensors) is freed by now, but glibc keeps freed heap pages (and
    // raises its mmap threshold after large frees, so the next task's
    // buffers come from the heap too): hand them back so an idle device
    // does not keep a training-sized heap between rounds.
    if (!keep_models_) ReleaseFreedMemory();
    return status;
  }

  absl::Status Evaluate(const protocol::Task& task, const Dataset& data,
                        EvalResult* out) override {
    absl::Status status = EvaluateFreshModel(task, data, out);
    if (!keep_models_) ReleaseFreedMemory();
    return status;
  }

  std::vector<std::string> CachedArchitectures() const override {
    std::vector<std::string> ids;
    for (const auto& [id, unused] : architectures_) ids.push_back(id);
    return ids;
  }

 private:
  // Builds the task's model, trains it and destroys it: between tasks the
  // trainer keeps only architecture bytes, no tensors.
  absl::Status TrainFreshModel(const protocol::Task& task, const Dataset& data,
                               const StopPredicate& should_stop, TrainOutcome* out) {
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model, ModelFor(task.model));
    auto give_back =
        absl::MakeCleanup([&] { Return(task.model.architecture_id, std::move(model)); });
    FEDGE_RETURN_IF_ERROR(model->Load(task.model));
    const protocol::TrainingConfig& cfg = task.config;
    if (cfg.batch_size == 0 || cfg.local_epochs == 0 || !(cfg.learning_rate > 0) ||
        !(cfg.proximal_mu >= 0) || !std::isfinite(cfg.proximal_mu) || !(cfg.clip_norm >= 0) ||
        !std::isfinite(cfg.clip_norm)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad training config: batch ", cfg.batch_size, ", epochs ", cfg.local_epochs,
          ", lr ", cfg.learning_rate, ", proximal mu ", cfg.proximal_mu, ", clip norm ",
          cfg.clip_norm));
    }
    if (data.size() == 0) return absl::FailedPreconditionError("client has no examples");
    FEDGE_RETURN_IF_ERROR(protocol::ValidateTaskSpec(task.model.task));
    FEDGE_RETURN_IF_ERROR(data::CheckFitsTask(data, task.model.task, "local data"));
    return CatchTorch([&] { return RunSgd(*model, task, data, should_stop, out); }, "training");
  }

  absl::Status EvaluateFreshModel(const protocol::Task& task, const Dataset& data,
                                  EvalResult* out) {
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model, ModelFor(task.model));
    auto give_back =
        absl::MakeCleanup([&] { Return(task.model.architecture_id, std::move(model)); });
    FEDGE_RETURN_IF_ERROR(model->Load(task.model));
    if (data.size() == 0) return absl::FailedPreconditionError("no held-out examples");
    FEDGE_RETURN_IF_ERROR(protocol::ValidateTaskSpec(task.model.task));
    FEDGE_RETURN_IF_ERROR(data::CheckFitsTask(data, task.model.task, "held-out data"));
    const Objective objective(task.model.task);
    torch::Tensor examples, targets;
    FEDGE_RETURN_IF_ERROR(CatchTorch([&] {
      examples = ExamplesTensor(data);
      targets = TargetsTensor(data, task.model.task);
      return absl::OkStatus();
    }, "evaluation"));
    FEDGE_ASSIGN_OR_RETURN(MetricSums sums,
                           EvaluateBatches(*model, objective, examples, targets));
    *out = Summarize(sums, task.model.task);
    return absl::OkStatus();
  }

  // A model of the payload's architecture: with keep_models the one kept
  // from an earlier task (its weights are about to be overwritten), else a
  // new one from the payload's bytes or, when the task omits them, from the
  // bytes an earlier task sent (what CachedArchitectures announces, so the
  // coordinator may omit them). Give it back with Return().
  absl::StatusOr<std::unique_ptr<TorchModel>> ModelFor(const protocol::ModelPayload& payload) {
    if (auto kept = kept_.find(payload.architecture_id); kept != kept_.end()) {
      std::unique_ptr<TorchModel> model = std::move(kept->second);
      kept_.erase(kept);
      return model;
    }
    auto it = architectures_.find(payload.architecture_id);
    if (!payload.architecture.empty()) {
      FEDGE_ASSIGN_OR_RETURN(
          std::unique_ptr<TorchModel> model,
          TorchModel::Create(Architecture{payload.architecture_id, payload.architecture}));
      if (it == architectures_.end()) {
        architectures_.emplace(payload.architecture_id, payload.architecture);
      }
      return model;
    }
    if (it == architectures_.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "task omits architecture ", payload.architecture_id, " which is not cached"));
    }
    return TorchModel::Create(Architecture{payload.architecture_id, it->second});
  }

  absl::Status RunSgd(TorchModel& model, const protocol::Task& task, const Dataset& data,
                      const StopPredicate& should_stop, TrainOutcome* out) {
    const protocol::TrainingConfig& cfg = task.config;
    const absl::Time start = clock_->Now();
    int64_t n = data.size();
    if (cfg.max_examples > 0) n = std::min<int64_t>(n, cfg.max_examples);
    // The local set is viewed in place and each batch converted on its own:
    // converting it whole first wrote 19 MB per task for 6,000 Fashion-MNIST
    // images (and read them twice more). Nothing training-sized outlives
    // Train().
    const Objective objective(task.model.task);
    const torch::Tensor examples = ExamplesView(data);
    torch::Tensor targets = TargetsTensor(data, task.model.task);

    std::vector<int64_t> order(static_cast<size_t>(data.size()));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(cfg.seed);

    model.SetTraining(true);
    torch::optim::SGD sgd(model.parameters(), torch::optim::SGDOptions(cfg.learning_rate));
    // FedProx: the gradient of (mu / 2) ||w - w_global||^2 is mu (w - w_global).
    std::vector<torch::Tensor> global_params;
    if (cfg.proximal_mu > 0) {
      for (const torch::Tensor& p : model.parameters()) global_params.push_back(p.detach().clone());
    }
    // SCAFFOLD: every step adds the task's correction (c - c_i, laid out like
    // the weights; parameters come first in the manifest) to the gradient.
    std::vector<torch::Tensor> corrections;
    if (!task.control.empty()) {
      if (task.control.size() != task.model.weights.size()) {
        return absl::InvalidArgumentError(absl::StrCat("task control variate has ",
                                                       task.control.size(), " values, the model ",
                                                       task.model.weights.size()));
      }
      int64_t offset = 0;
      for (const torch::Tensor& p : model.parameters()) {
        corrections.push_back(
            torch::from_blob(const_cast<float*>(task.control.data()) + offset, p.sizes(),
                             torch::kFloat32)
                .clone());
        offset += p.numel();
      }
    }
    // A pruned model (compression/pruning.h): pruned weights stay 0 after
    // every step, so the model trained is the sparse one that was sent.
    // Parameters come first in the manifest, in the model's order.
    std::vector<std::pair<size_t, torch::Tensor>> masks;
    if (!task.model.mask.empty()) {
      int64_t offset = 0;
      const std::vector<torch::Tensor>& params = model.parameters();
      for (size_t i = 0; i < params.size(); ++i) {
        const int64_t size = params[i].numel();
        std::vector<float> keep(static_cast<size_t>(size));
        bool any_pruned = false;
        for (int64_t j = 0; j < size; ++j) {
          keep[j] = compression::Kept(task.model.mask, offset + j) ? 1.0f : 0.0f;
          any_pruned |= keep[j] == 0;
        }
        if (any_pruned) {
          masks.emplace_back(i, torch::from_blob(keep.data(), params[i].sizes(), torch::kFloat32)
                                    .clone());
        }
        offset += size;
      }
    }
    MetricSums sums;
    int64_t seen = 0;
    for (uint32_t epoch = 0; epoch < cfg.local_epochs; ++epoch) {
      std::shuffle(order.begin(), order.end(), rng);
      for (int64_t begin = 0; begin < n; begin += cfg.batch_size) {
        if (should_stop && should_stop()) {
          return absl::CancelledError(absl::StrCat("training stopped after ", seen, " examples"));
        }
        const int64_t end = std::min<int64_t>(n, begin + cfg.batch_size);
        torch::Tensor idx = torch::from_blob(order.data() + begin, {end - begin}, torch::kInt64);
        torch::Tensor x = ExamplesBatch(examples, idx);
        torch::Tensor y = targets.index_select(0, idx);
        sgd.zero_grad();
        FEDGE_ASSIGN_OR_RETURN(torch::Tensor output,
                               objective.Shape(model.Forward(x), end - begin));
        torch::Tensor loss = objective.Loss(model, x, output, y);
        if (loss.numel() != 1) {
          return absl::InvalidArgumentError(absl::StrCat(
              "the model's training_loss returned ", c10::str(loss.sizes()), ", not a scalar"));
        }
        loss.backward();
        if (!global_params.empty() || !corrections.empty()) {
          torch::NoGradGuard no_grad;
          const std::vector<torch::Tensor>& params = model.parameters();
          for (size_t i = 0; i < params.size(); ++i) {
            if (!params[i].grad().defined()) continue;  // unused by this forward
            if (!global_params.empty()) {
              params[i].mutable_grad().add_(params[i].detach() - global_params[i],
                                            cfg.proximal_mu);
            }
            if (!corrections.empty()) params[i].mutable_grad().add_(corrections[i]);
          }
        }
        sgd.step();
        if (!masks.empty()) {
          torch::NoGradGuard no_grad;
          const std::vector<torch::Tensor>& params = model.parameters();
          for (const auto& [i, keep] : masks) params[i].mul_(keep);
        }
        // Only the last epoch's figures describe the model being uploaded.
        if (epoch + 1 == cfg.local_epochs) objective.Add(output, y, loss.item<double>(), &sums);
        seen += end - begin;
      }
    }
    model.GetWeights(&out->delta);
    if (!aggregation::AllFinite(out->delta.data(), out->delta.size())) {
      return absl::InternalError("training diverged: a weight or buffer is NaN or infinite");
    }
    const std::vector<float>& global = task.model.weights;
    for (size_t i = 0; i < out->delta.size(); ++i) out->delta[i] -= global[i];
    if (cfg.clip_norm > 0) {
      aggregation::ClipNorm(absl::MakeSpan(out->delta),
                            protocol::ParameterRanges(task.model.manifest), cfg.clip_norm);
    }
    out->num_examples = static_cast<uint64_t>(n);
    const EvalResult train = Summarize(sums, task.model.task);
    out->metrics.loss = static_cast<float>(train.loss);
    out->metrics.accuracy = static_cast<float>(train.accuracy);
    out->metrics.train_seconds = static_cast<float>(absl::ToDoubleSeconds(clock_->Now() - start));
    return absl::OkStatus();
  }

  // Done with `model` (of `id`): kept for the next task with keep_models,
  // else destroyed now.
  void Return(const std::string& id, std::unique_ptr<TorchModel> model) {
    if (keep_models_ && model != nullptr) kept_[id] = std::move(model);
  }

  const bool keep_models_;
  Clock* const clock_;  // not owned
  // Architecture id -> bytes, as first received. No tensors.
  std::map<std::string, std::string> architectures_;
  // keep_models only: architecture id -> the model of the last task.
  std::map<std::string, std::unique_ptr<TorchModel>> kept_;
};

class TorchEvaluator final : public ModelEvaluator {
 public:
  TorchEvaluator(std::unique_ptr<TorchModel> model, const protocol::TaskSpec& task, Dataset data)
      : model_(std::move(model)), objective_(task) {
    examples_ = ExamplesTensor(data);
    targets_ = TargetsTensor(data, task);
  }

  absl::StatusOr<EvalResult> Evaluate(absl::Span<const float> weights) override {
    FEDGE_RETURN_IF_ERROR(model_->SetWeights(weights));
    FEDGE_ASSIGN_OR_RETURN(MetricSums sums,
                           EvaluateBatches(*model_, objective_, examples_, targets_));
    return Summarize(sums, objective_.task());
  }

 private:
  std::unique_ptr<TorchModel> model_;
  Objective objective_;
  torch::Tensor examples_, targets_;
};

}  // namespace

std::unique_ptr<Trainer> MakeTorchTrainer(const TorchTrainerOptions& options) {
  return std::make_unique<TorchTrainer>(options);
}

absl::StatusOr<std::unique_ptr<ModelEvaluator>> MakeTorchEvaluator(
    const std::string& architecture_id, const std::string& architecture,
    const protocol::TaskSpec& task, Dataset data) {
  FEDGE_RETURN_IF_ERROR(protocol::ValidateTaskSpec(task));
  FEDGE_RETURN_IF_ERROR(data::CheckFitsTask(data, task, "evaluation data"));
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<TorchModel> model,
                         TorchModel::Create(Architecture{architecture_id, architecture}));
  FEDGE_RETURN_IF_ERROR(CheckModelFitsTask(*model, task));
  return std::unique_ptr<ModelEvaluator>(
      new TorchEvaluator(std::move(model), task, std::move(data)));
}

absl::StatusOr<std::unique_ptr<ModelEvaluator>> MakeBackdoorEvaluator(
    const std::string& architecture_id, const std::string& architecture,
    const protocol::TaskSpec& task, const Dataset& test, uint8_t target) {
  FEDGE_ASSIGN_OR_RETURN(Dataset poisoned, BackdoorTestSet(test, target));
  return MakeTorchEvaluator(architecture_id, architecture, task, std::move(poisoned));
}

absl::StatusOr<protocol::ModelPayload> MakeInitialModel(const std::string& model_flag,
                                                        uint64_t seed,
                                                        const protocol::TaskSpec& task) {
  return InitialModelPayload(model_flag, seed, task);
}

}  // namespace fedge::client
