#include "client/attack.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "data/dataset.h"

namespace fedge::client {
namespace {

// --backdoor_target is checked against the classes of the demo task
// (Fashion-MNIST's 10) at flag time; a target outside another task's classes
// is refused when the poisoned data is checked against the task.
constexpr int kClasses = 10;

struct KindName {
  AttackKind kind;
  const char* name;
  double default_scale;
};
constexpr KindName kKinds[] = {
    {AttackKind::kSignFlip, "signflip", 4.0},   {AttackKind::kScale, "scale", 10.0},
    {AttackKind::kGaussian, "gaussian", 10.0},  {AttackKind::kLabelFlip, "labelflip", 1.0},
    {AttackKind::kBackdoor, "backdoor", 1.0},
};

// SplitMix64: decorrelates seeds built from small integers (client ids,
// rounds) before they seed a generator.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t SeedFor(uint64_t seed, uint64_t client_id, uint64_t round) {
  return Mix(Mix(Mix(seed) ^ client_id) ^ round);
}

// The first `count` indices of a seeded Fisher-Yates shuffle of [0, n).
// Written out rather than std::shuffle, whose output differs between
// standard libraries, so a run's attack is the same everywhere.
std::vector<int64_t> ChooseIndices(int64_t n, int64_t count, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < count && i < n; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - i));
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  idx.resize(static_cast<size_t>(std::min(count, n)));
  return idx;
}

// Class K: K - 1 - y; binary and multi-label: 1 - y; real: -y.
float FlippedTarget(float y, const protocol::TaskSpec& task) {
  switch (task.target) {
    case protocol::TargetKind::kClass:
      return static_cast<float>(task.num_classes) - 1 - y;
    case protocol::TargetKind::kBinary:
    case protocol::TargetKind::kMultiLabel:
      return 1 - y;
    case protocol::TargetKind::kReal:
      return -y;
  }
  return y;
}

class AttackingTrainer final : public Trainer {
 public:
  AttackingTrainer(Trainer* honest, const AttackOptions& options, uint64_t client_id)
      : honest_(honest), options_(options), scale_(EffectiveAttackScale(options)),
        client_id_(client_id) {}

  absl::Status Train(const protocol::Task& task, const Dataset& data,
                     const StopPredicate& should_stop, TrainOutcome* out) override {
    const bool poisons_data =
        options_.kind == AttackKind::kLabelFlip || options_.kind == AttackKind::kBackdoor;
    absl::Status s =
        honest_->Train(task, poisons_data ? Poisoned(data, task.model.task) : data, should_stop, out);
    if (!s.ok()) return s;
    // After the honest trainer's clip: the attacker does not bound itself.
    if (options_.kind == AttackKind::kGaussian) {
      ReplaceWithNoise(task.round, &out->delta);
    } else {
      const float factor =
          static_cast<float>(options_.kind == AttackKind::kSignFlip ? -scale_ : scale_);
      for (float& x : out->delta) x *= factor;
    }
    return absl::OkStatus();
  }

  // Attackers poison training, not the metrics they report.
  absl::Status Evaluate(const protocol::Task& task, const Dataset& data,
                        EvalResult* out) override {
    return honest_->Evaluate(task, data, out);
  }

  std::vector<std::string> CachedArchitectures() const override {
    return honest_->CachedArchitectures();
  }

 private:
  // The client's data as this attack trains on it, built on first use and
  // kept: the training worker hands a client the same dataset every round.
  const Dataset& Poisoned(const Dataset& data, const protocol::TaskSpec& task) {
    if (poisoned_.has_value() && source_ == data.targets.data() && poisoned_->size() == data.size()) {
      return *poisoned_;
    }
    source_ = data.targets.data();
    poisoned_ = data;
    if (options_.kind == AttackKind::kLabelFlip) {
      for (float& y : poisoned_->targets) y = FlippedTarget(y, task);
    } else {
      const int64_t count = static_cast<int64_t>(
          std::llround(options_.backdoor_fraction * static_cast<double>(data.size())));
      for (int64_t i : ChooseIndices(data.size(), count, SeedFor(options_.seed, client_id_, 0))) {
        StampTrigger(&*poisoned_, i);
        poisoned_->targets[static_cast<size_t>(i * data.TargetSize())] =
            static_cast<float>(options_.backdoor_target);
      }
    }
    return *poisoned_;
  }

  void ReplaceWithNoise(uint64_t round, std::vector<float>* delta) const {
    double sum_sq = 0;
    for (float x : *delta) sum_sq += static_cast<double>(x) * x;
    const double rms = delta->empty() ? 0 : std::sqrt(sum_sq / static_cast<double>(delta->size()));
    std::mt19937_64 rng(SeedFor(options_.seed, client_id_, round));
    std::normal_distribution<double> noise(0.0, scale_ * rms);
    for (float& x : *delta) x = static_cast<float>(noise(rng));
  }

  Trainer* const honest_;
  const AttackOptions options_;
  const double scale_;
  const uint64_t client_id_;
  const float* source_ = nullptr;  // identifies the dataset poisoned_ was built from
  std::optional<Dataset> poisoned_;
};

}  // namespace

absl::StatusOr<AttackKind> ParseAttackKind(absl::string_view name, absl::string_view flag) {
  std::string known;
  for (const KindName& k : kKinds) {
    if (name == k.name) return k.kind;
    absl::StrAppend(&known, known.empty() ? "" : ", ", k.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(flag, "=", name, ": unknown attack; known attacks: ", known));
}

const char* AttackKindName(AttackKind kind) {
  for (const KindName& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

double DefaultAttackScale(AttackKind kind) {
  for (const KindName& k : kKinds) {
    if (k.kind == kind) return k.default_scale;
  }
  return 1.0;
}

double EffectiveAttackScale(const AttackOptions& options) {
  return options.scale == 0 ? DefaultAttackScale(options.kind) : options.scale;
}

absl::Status ValidateAttackOptions(const AttackOptions& options) {
  if (!(options.scale >= 0) || !std::isfinite(options.scale)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--attack_scale=", options.scale, ": want a finite factor >= 0 (0: the attack's default)"));
  }
  if (!(options.backdoor_fraction > 0 && options.backdoor_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--backdoor_fraction=", options.backdoor_fraction, ": want a share in (0, 1]"));
  }
  if (options.kind == AttackKind::kBackdoor &&
      (options.backdoor_target < 0 || options.backdoor_target >= kClasses)) {
    return absl::InvalidArgumentError(absl::StrCat("--backdoor_target=", options.backdoor_target,
                                                   ": want a class in [0, ", kClasses - 1, "]"));
  }
  return absl::OkStatus();
}

void StampTrigger(Dataset* data, int64_t example) {
  // The last two dimensions are an image's rows and columns; a 1-d example
  // is one row.
  const std::vector<int64_t>& shape = data->example_shape;
  const int64_t cols = shape.empty() ? 1 : shape.back();
  const int64_t rows = shape.size() >= 2 ? shape[shape.size() - 2] : 1;
  const int64_t planes = data->ExampleSize() / (rows * cols);
  const int64_t size_r = std::min(kTriggerSize, rows), size_c = std::min(kTriggerSize, cols);
  const int64_t base = example * data->ExampleSize();
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t r = rows - size_r; r < rows; ++r) {
      for (int64_t c = cols - size_c; c < cols; ++c) {
        const size_t at = static_cast<size_t>(base + (p * rows + r) * cols + c);
        if (data->storage == data::Storage::kUint8) {
          data->bytes[at] = 255;
        } else {
          data->features[at] = 1.0f;
        }
      }
    }
  }
}

absl::StatusOr<Dataset> BackdoorTestSet(const Dataset& test, uint8_t target) {
  if (test.TargetSize() != 1) {
    return absl::InvalidArgumentError("the backdoor attack needs one class index per example");
  }
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < test.size(); ++i) {
    if (test.Target(i) != static_cast<float>(target)) keep.push_back(i);
  }
  FEDGE_ASSIGN_OR_RETURN(Dataset out, data::Subset(test, keep));
  for (int64_t i = 0; i < out.size(); ++i) {
    out.targets[static_cast<size_t>(i)] = target;
    StampTrigger(&out, i);
  }
  return out;
}

std::unique_ptr<Trainer> MakeAttackingTrainer(Trainer* honest, const AttackOptions& options,
                                              uint64_t client_id) {
  return std::make_unique<AttackingTrainer>(honest, options, client_id);
}

TrainerDecorator AttackDecorator(const AttackOptions& options, uint64_t client_id) {
  return [options, client_id](Trainer* honest) {
    return MakeAttackingTrainer(honest, options, client_id);
  };
}

std::string DescribeAttack(const AttackOptions& options) {
  std::string s = absl::StrFormat("%s x%g", AttackKindName(options.kind),
                                  EffectiveAttackScale(options));
  if (options.kind == AttackKind::kBackdoor) {
    absl::StrAppendFormat(&s, " (%g%% of examples -> class %d)", options.backdoor_fraction * 100,
                          options.backdoor_target);
  }
  return s;
}

}  // namespace fedge::client
