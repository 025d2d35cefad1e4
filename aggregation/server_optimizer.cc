#include "aggregation/server_optimizer.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"

namespace fedge::aggregation {
namespace {

// State encoding, little-endian: u32 kind, u64 dim, u64 steps, then the
// kind's float vectors of `dim` values each (momentum: v; adaptive: m, v).
constexpr size_t kStateHeader = 4 + 8 + 8;

void PutLe(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

int VectorsOf(ServerOptimizerKind kind) {
  switch (kind) {
    case ServerOptimizerKind::kSgd:
      return 0;
    case ServerOptimizerKind::kMomentum:
      return 1;
    default:
      return 2;
  }
}

class Optimizer final : public ServerOptimizer {
 public:
  Optimizer(const ServerOptimizerConfig& config, size_t dim,
            std::vector<std::pair<uint64_t, uint64_t>> ranges)
      : config_(config), dim_(dim), ranges_(std::move(ranges)) {
    const float v0 = static_cast<float>(config.tau * config.tau);
    switch (VectorsOf(config.kind)) {
      case 1:
        v_.assign(dim, 0.0f);
        break;
      case 2:
        m_.assign(dim, 0.0f);
        // Reddi et al., Algorithm 2: v_{-1} >= tau^2.
        v_.assign(dim, v0);
        break;
      default:
        break;
    }
  }

  absl::Status Step(absl::Span<const float> delta, absl::Span<float> weights) override {
    if (delta.size() != dim_ || weights.size() != dim_) {
      return absl::InvalidArgumentError(
          absl::StrCat("server optimiser: model has ", dim_, " values, got a ", delta.size(),
                       "-value update for ", weights.size(), " weights"));
    }
    size_t next = 0;
    for (const auto& [begin, end] : ranges_) {
      AddMean(delta, weights, next, begin);  // buffers: the clients' mean
      StepParameters(delta, weights, begin, end);
      next = end;
    }
    AddMean(delta, weights, next, dim_);
    ++steps_;
    return absl::OkStatus();
  }

  ServerOptimizerKind kind() const override { return config_.kind; }
  uint64_t steps() const override { return steps_; }

  std::string SaveState() const override {
    std::string out;
    out.reserve(kStateHeader + (m_.size() + v_.size()) * sizeof(float));
    PutLe(static_cast<uint32_t>(config_.kind), 4, &out);
    PutLe(dim_, 8, &out);
    PutLe(steps_, 8, &out);
    for (const std::vector<float>* vec : {&m_, &v_}) {
      out.append(reinterpret_cast<const char*>(vec->data()), vec->size() * sizeof(float));
    }
    return out;
  }

  absl::Status RestoreState(absl::string_view state) override {
    const size_t vectors = static_cast<size_t>(VectorsOf(config_.kind));
    const size_t want = kStateHeader + vectors * dim_ * sizeof(float);
    if (state.size() < kStateHeader) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server optimiser state: ", state.size(), " bytes, shorter than its header"));
    }
    const uint64_t kind = GetLe(state.data(), 4);
    const uint64_t dim = GetLe(state.data() + 4, 8);
    if (kind != static_cast<uint32_t>(config_.kind)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server optimiser state is for optimiser ", kind, ", this run uses ",
          ServerOptimizerName(config_.kind), " (", static_cast<uint32_t>(config_.kind), ")"));
    }
    if (dim != dim_ || state.size() != want) {
      return absl::InvalidArgumentError(
          absl::StrCat("server optimiser state: ", state.size(), " bytes for a model of ", dim,
                       " values; expected ", want, " bytes for ", dim_));
    }
    steps_ = GetLe(state.data() + 12, 8);
    const char* p = state.data() + kStateHeader;
    if (vectors == 2) {
      std::memcpy(m_.data(), p, dim_ * sizeof(float));
      p += dim_ * sizeof(float);
    }
    if (vectors >= 1) std::memcpy(v_.data(), p, dim_ * sizeof(float));
    return absl::OkStatus();
  }

 private:
  static void AddMean(absl::Span<const float> d, absl::Span<float> x, size_t begin, size_t end) {
    if (end > begin) Axpy(1.0f, d.data() + begin, x.data() + begin, end - begin);
  }

  void StepParameters(absl::Span<const float> d, absl::Span<float> x, size_t begin, size_t end) {
    const float lr = static_cast<float>(config_.learning_rate);
    switch (config_.kind) {
      case ServerOptimizerKind::kSgd:
        // FedAvg's step, on the vectorised kernel.
        Axpy(lr, d.data() + begin, x.data() + begin, end - begin);
        return;
      case ServerOptimizerKind::kMomentum: {
        const float beta = static_cast<float>(config_.momentum);
        for (size_t i = begin; i < end; ++i) {
          v_[i] = beta * v_[i] + d[i];
          x[i] += lr * v_[i];
        }
        return;
      }
      default:
        break;
    }
    const float b1 = static_cast<float>(config_.beta1);
    const float b2 = static_cast<float>(config_.beta2);
    const float tau = static_cast<float>(config_.tau);
    for (size_t i = begin; i < end; ++i) {
      const float g = d[i];
      const float g2 = g * g;
      m_[i] = b1 * m_[i] + (1 - b1) * g;
      switch (config_.kind) {
        case ServerOptimizerKind::kAdagrad:
          v_[i] += g2;
          break;
        case ServerOptimizerKind::kAdam:
          v_[i] = b2 * v_[i] + (1 - b2) * g2;
          break;
        default: {  // kYogi
          const float diff = v_[i] - g2;
          const float sign = static_cast<float>((diff > 0) - (diff < 0));
          v_[i] -= (1 - b2) * g2 * sign;
          break;
        }
      }
      x[i] += lr * m_[i] / (std::sqrt(v_[i]) + tau);
    }
  }

  const ServerOptimizerConfig config_;
  const size_t dim_;
  const std::vector<std::pair<uint64_t, uint64_t>> ranges_;
  std::vector<float> m_, v_;
  uint64_t steps_ = 0;
};

}  // namespace

const char* ServerOptimizerName(ServerOptimizerKind kind) {
  switch (kind) {
    case ServerOptimizerKind::kSgd:
      return "fedavg";
    case ServerOptimizerKind::kMomentum:
      return "fedavgm";
    case ServerOptimizerKind::kAdagrad:
      return "fedadagrad";
    case ServerOptimizerKind::kAdam:
      return "fedadam";
    case ServerOptimizerKind::kYogi:
      return "fedyogi";
  }
  return "unknown";
}

absl::Status ValidateServerOptimizerConfig(const ServerOptimizerConfig& c) {
  if (static_cast<uint32_t>(c.kind) > static_cast<uint32_t>(ServerOptimizerKind::kYogi)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown server optimiser ", static_cast<uint32_t>(c.kind)));
  }
  if (!(c.learning_rate > 0) || !std::isfinite(c.learning_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server_lr must be a positive number, got ", c.learning_rate));
  }
  if (!(c.momentum >= 0 && c.momentum < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server_momentum must be in [0, 1), got ", c.momentum));
  }
  if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server_beta1 and --server_beta2 must be in [0, 1), got ", c.beta1, " and ", c.beta2));
  }
  if (!(c.tau > 0) || !std::isfinite(c.tau)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server_tau must be a positive number, got ", c.tau));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServerOptimizer>> MakeServerOptimizer(
    const ServerOptimizerConfig& config, size_t dim,
    std::vector<std::pair<uint64_t, uint64_t>> parameter_ranges) {
  if (absl::Status s = ValidateServerOptimizerConfig(config); !s.ok()) return s;
  uint64_t previous_end = 0;
  for (const auto& [begin, end] : parameter_ranges) {
    if (begin < previous_end || end < begin || end > dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server optimiser: parameter range [", begin, ", ", end,
          ") is out of order or outside the model's ", dim, " values"));
    }
    previous_end = end;
  }
  return std::unique_ptr<ServerOptimizer>(
      new Optimizer(config, dim, std::move(parameter_ranges)));
}

}  // namespace fedge::aggregation
