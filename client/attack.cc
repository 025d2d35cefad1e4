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

namespace fedge::client {
namespace {

// Label flipping maps class y to kClasses - 1 - y (Fashion-MNIST's 10).
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

class AttackingTrainer final : public Trainer {
 public:
  AttackingTrainer(Trainer* honest, const AttackOptions& options, uint64_t client_id)
      : honest_(honest), options_(options), scale_(EffectiveAttackScale(options)),
        client_id_(client_id) {}

  absl::Status Train(const protocol::Task& task, const Dataset& data,
                     const StopPredicate& should_stop, TrainOutcome* out) override {
    const bool poisons_data =
        options_.kind == AttackKind::kLabelFlip || options_.kind == AttackKind::kBackdoor;
    absl::Status s = honest_->Train(task, poisons_data ? Poisoned(data) : data, should_stop, out);
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

  std::vector<std::string> CachedArchitectures() const override {
    return honest_->CachedArchitectures();
  }

 private:
  // The client's data as this attack trains on it, built on first use and
  // kept: the training worker hands a client the same dataset every round.
  const Dataset& Poisoned(const Dataset& data) {
    if (poisoned_.has_value() && source_ == data.labels.data() && poisoned_->size() == data.size()) {
      return *poisoned_;
    }
    source_ = data.labels.data();
    poisoned_ = data;
    if (options_.kind == AttackKind::kLabelFlip) {
      for (uint8_t& y : poisoned_->labels) {
        if (y < kClasses) y = static_cast<uint8_t>(kClasses - 1 - y);
      }
    } else {
      const int64_t count = static_cast<int64_t>(
          std::llround(options_.backdoor_fraction * static_cast<double>(data.size())));
      for (int64_t i : ChooseIndices(data.size(), count, SeedFor(options_.seed, client_id_, 0))) {
        StampTrigger(&*poisoned_, i);
        poisoned_->labels[static_cast<size_t>(i)] = static_cast<uint8_t>(options_.backdoor_target);
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
  const uint8_t* source_ = nullptr;  // identifies the dataset poisoned_ was built from
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
  const int64_t size = std::min({kTriggerSize, data->rows, data->cols});
  uint8_t* image = data->pixels.data() + example * data->pixels_per_example();
  for (int64_t r = data->rows - size; r < data->rows; ++r) {
    for (int64_t c = data->cols - size; c < data->cols; ++c) image[r * data->cols + c] = 255;
  }
}

Dataset BackdoorTestSet(const Dataset& test, uint8_t target) {
  Dataset out;
  out.rows = test.rows;
  out.cols = test.cols;
  const size_t pixels = static_cast<size_t>(test.pixels_per_example());
  for (int64_t i = 0; i < test.size(); ++i) {
    if (test.labels[static_cast<size_t>(i)] == target) continue;
    const auto first = test.pixels.begin() + static_cast<std::ptrdiff_t>(i * pixels);
    out.pixels.insert(out.pixels.end(), first, first + static_cast<std::ptrdiff_t>(pixels));
    out.labels.push_back(target);
    StampTrigger(&out, out.size() - 1);
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
