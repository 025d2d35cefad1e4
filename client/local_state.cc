#include "client/local_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/log.h"

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

uint64_t CountOf(const Ranges& ranges) {
  uint64_t n = 0;
  for (const auto& [b, e] : ranges) n += e - b;
  return n;
}

// Writes `state`'s normalisation values over `model`'s normalisation tensors
// when the state belongs to `model`; false (model untouched) otherwise.
bool CopyOwnNormalization(const LocalState& state, protocol::ModelPayload* model) {
  const Ranges norm = NormalizationRanges(model->manifest);
  if (state.num_weights != model->weights.size() ||
      state.normalization.size() != CountOf(norm) || state.normalization.empty() ||
      state.model != ModelFingerprint(*model)) {
    return false;
  }
  auto from = state.normalization.begin();
  for (const auto& [b, e] : norm) {
    std::copy(from, from + static_cast<ptrdiff_t>(e - b), model->weights.begin() + b);
    from += static_cast<ptrdiff_t>(e - b);
  }
  return true;
}

class LocalStateTrainer final : public Trainer {
 public:
  LocalStateTrainer(Trainer* inner, LocalState* state)
      : inner_(inner), state_(state != nullptr ? state : &owned_) {}

  absl::Status Train(const protocol::Task& task, const Dataset& data,
                     const StopPredicate& should_stop, TrainOutcome* out) override {
    const bool scaffold = !task.control.empty();
    const bool fedbn = task.config.local_normalization;
    if (!scaffold && !fedbn) {
      absl::Status s = inner_->Train(task, data, should_stop, out);
      // The newest task no longer keeps normalisation layers local.
      if (s.ok()) state_->local_normalization = false;
      return s;
    }
    const size_t dim = task.model.weights.size();
    if (scaffold && task.control.size() != dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task control variate has ", task.control.size(), " values, the model ", dim));
    }
    // Nothing changes in *state_ until training succeeded.
    const Sha256Digest model = ModelFingerprint(task.model);
    const bool ours = state_->model == model && state_->num_weights == dim;
    if (!ours && !state_->empty()) {
      FEDGE_LOG(kWarning, "local strategy state of another model (%d weights) dropped: round "
                "%d trains a model of another layout (%d weights)", state_->num_weights,
                task.round, dim);
    }
    protocol::Task local = task;
    const Ranges norm = fedbn ? NormalizationRanges(task.model.manifest) : Ranges();
    const Ranges params = scaffold ? protocol::ParameterRanges(task.model.manifest) : Ranges();
    if (fedbn && ours) CopyOwnNormalization(*state_, &local.model);
    const bool have_control = ours && state_->control.size() == dim;
    if (scaffold) {
      std::fill(local.control.begin(), local.control.end(), 0.0f);
      for (const auto& [b, e] : params) {
        for (uint64_t i = b; i < e; ++i) {
          local.control[i] = task.control[i] - (have_control ? state_->control[i] : 0.0f);
        }
      }
    }
    if (absl::Status s = inner_->Train(local, data, should_stop, out); !s.ok()) return s;

    if (!ours) {
      *state_ = LocalState();
      state_->model = model;
      state_->num_weights = dim;
    }
    state_->local_normalization = fedbn;
    if (fedbn) {
      // This client's statistics and affine terms after training; not uploaded.
      state_->normalization.resize(CountOf(norm));
      auto to = state_->normalization.begin();
      for (const auto& [b, e] : norm) {
        for (uint64_t i = b; i < e; ++i) {
          *to++ = local.model.weights[i] + out->delta[i];
          out->delta[i] = 0.0f;
        }
      }
    }
    if (scaffold) {
      if (state_->control.size() != dim) state_->control.assign(dim, 0.0f);
      const uint64_t steps = LocalSteps(task.config, static_cast<uint64_t>(data.size()));
      const double k_eta = static_cast<double>(steps) * task.config.learning_rate;
      out->control_delta.assign(dim, 0.0f);
      for (const auto& [b, e] : params) {
        for (uint64_t i = b; i < e; ++i) {
          // c_i+ - c_i = -c + (x - y_i) / (K eta), and x - y_i = -delta.
          const float change =
              static_cast<float>(-task.control[i] - static_cast<double>(out->delta[i]) / k_eta);
          out->control_delta[i] = change;
          state_->control[i] += change;
        }
      }
    }
    return absl::OkStatus();
  }

  // FedBN: the client evaluates with its own normalisation layers, which is
  // what makes the global model meaningful to it.
  absl::Status Evaluate(const protocol::Task& task, const Dataset& data,
                        EvalResult* out) override {
    if (!task.config.local_normalization) return inner_->Evaluate(task, data, out);
    protocol::Task local = task;
    if (!CopyOwnNormalization(*state_, &local.model)) return inner_->Evaluate(task, data, out);
    return inner_->Evaluate(local, data, out);
  }

  std::vector<std::string> CachedArchitectures() const override {
    return inner_->CachedArchitectures();
  }

 private:
  Trainer* const inner_;
  LocalState owned_;          // when the caller keeps none
  LocalState* const state_;   // owned_ or the caller's
};

}  // namespace

uint64_t LocalSteps(const protocol::TrainingConfig& config, uint64_t examples) {
  uint64_t n = examples;
  if (config.max_examples > 0) n = std::min<uint64_t>(n, config.max_examples);
  const uint64_t batch = std::max<uint32_t>(config.batch_size, 1);
  return std::max<uint64_t>(1, config.local_epochs * ((n + batch - 1) / batch));
}

std::unique_ptr<Trainer> MakeLocalStateTrainer(Trainer* inner) {
  return std::make_unique<LocalStateTrainer>(inner, nullptr);
}

std::unique_ptr<Trainer> MakeLocalStateTrainer(Trainer* inner, LocalState* state) {
  return std::make_unique<LocalStateTrainer>(inner, state);
}

bool OverlayLocalNormalization(const LocalState& state, protocol::ModelPayload* model) {
  return state.local_normalization && CopyOwnNormalization(state, model);
}

}  // namespace fedge::client
