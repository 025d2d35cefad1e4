#include "client/local_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace fedge::client {
namespace {

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

Ranges NormalizationRanges(const protocol::ModelManifest& manifest) {
  Ranges ranges;
  uint64_t offset = 0;
  for (const protocol::TensorSpec& t : manifest.tensors) {
    const uint64_t n = t.NumElements();
    if (t.normalization && n > 0) ranges.emplace_back(offset, offset + n);
    offset += n;
  }
  return ranges;
}

class LocalStateTrainer final : public Trainer {
 public:
  explicit LocalStateTrainer(Trainer* inner) : inner_(inner) {}

  absl::Status Train(const protocol::Task& task, const Dataset& data,
                     const StopPredicate& should_stop, TrainOutcome* out) override {
    const bool scaffold = !task.control.empty();
    const bool fedbn = task.config.local_normalization;
    if (!scaffold && !fedbn) return inner_->Train(task, data, should_stop, out);
    const size_t dim = task.model.weights.size();
    if (scaffold && task.control.size() != dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task control variate has ", task.control.size(), " values, the model ", dim));
    }
    protocol::Task local = task;
    const Ranges norm = fedbn ? NormalizationRanges(task.model.manifest) : Ranges();
    const Ranges params = scaffold ? protocol::ParameterRanges(task.model.manifest) : Ranges();
    const bool have_norm = fedbn && kept_weights_.size() == dim;
    if (have_norm) {
      for (const auto& [b, e] : norm) {
        std::copy(kept_weights_.begin() + b, kept_weights_.begin() + e,
                  local.model.weights.begin() + b);
      }
    }
    if (scaffold) {
      if (control_.size() != dim) control_.assign(dim, 0.0f);
      std::fill(local.control.begin(), local.control.end(), 0.0f);
      for (const auto& [b, e] : params) {
        for (uint64_t i = b; i < e; ++i) local.control[i] = task.control[i] - control_[i];
      }
    }
    if (absl::Status s = inner_->Train(local, data, should_stop, out); !s.ok()) return s;

    if (fedbn) {
      // This client's statistics and affine terms after training; not uploaded.
      kept_weights_.resize(dim);
      for (const auto& [b, e] : norm) {
        for (uint64_t i = b; i < e; ++i) {
          kept_weights_[i] = local.model.weights[i] + out->delta[i];
          out->delta[i] = 0.0f;
        }
      }
    }
    if (scaffold) {
      const uint64_t steps = LocalSteps(task.config, static_cast<uint64_t>(data.size()));
      const double k_eta = static_cast<double>(steps) * task.config.learning_rate;
      out->control_delta.assign(dim, 0.0f);
      for (const auto& [b, e] : params) {
        for (uint64_t i = b; i < e; ++i) {
          // c_i+ - c_i = -c + (x - y_i) / (K eta), and x - y_i = -delta.
          const float change =
              static_cast<float>(-task.control[i] - static_cast<double>(out->delta[i]) / k_eta);
          out->control_delta[i] = change;
          control_[i] += change;
        }
      }
    }
    return absl::OkStatus();
  }

  // FedBN: the client evaluates with its own normalisation layers, which is
  // what makes the global model meaningful to it.
  absl::Status Evaluate(const protocol::Task& task, const Dataset& data,
                        EvalResult* out) override {
    const size_t dim = task.model.weights.size();
    if (!task.config.local_normalization || kept_weights_.size() != dim) {
      return inner_->Evaluate(task, data, out);
    }
    protocol::Task local = task;
    for (const auto& [b, e] : NormalizationRanges(task.model.manifest)) {
      std::copy(kept_weights_.begin() + b, kept_weights_.begin() + e,
                local.model.weights.begin() + b);
    }
    return inner_->Evaluate(local, data, out);
  }

  std::vector<std::string> CachedArchitectures() const override {
    return inner_->CachedArchitectures();
  }

 private:
  Trainer* const inner_;
  std::vector<float> control_;       // SCAFFOLD's c_i
  std::vector<float> kept_weights_;  // FedBN: valid on the normalisation ranges
};

}  // namespace

uint64_t LocalSteps(const protocol::TrainingConfig& config, uint64_t examples) {
  uint64_t n = examples;
  if (config.max_examples > 0) n = std::min<uint64_t>(n, config.max_examples);
  const uint64_t batch = std::max<uint32_t>(config.batch_size, 1);
  return std::max<uint64_t>(1, config.local_epochs * ((n + batch - 1) / batch));
}

std::unique_ptr<Trainer> MakeLocalStateTrainer(Trainer* inner) {
  return std::make_unique<LocalStateTrainer>(inner);
}

}  // namespace fedge::client
