#include "coordinator/strategy.h"

#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "aggregation/robust.h"

namespace fedge::coordinator {
namespace {

using aggregation::Aggregator;
using aggregation::ServerOptimizerKind;

// One class serves every registered strategy: a strategy is data (its
// aggregator factory, optimiser kind and client-side settings), so adding
// one is a row in kStrategies below.
class TableStrategy final : public Strategy {
 public:
  TableStrategy(std::string name, StrategyOptions options,
                std::function<std::unique_ptr<Aggregator>()> make_aggregator, bool buffers,
                bool proximal, bool control, bool local_normalization)
      : name_(std::move(name)),
        options_(std::move(options)),
        make_aggregator_(std::move(make_aggregator)),
        buffers_(buffers),
        proximal_(proximal),
        control_(control),
        local_normalization_(local_normalization) {}

  const std::string& name() const override { return name_; }
  void ConfigureTask(protocol::TrainingConfig* training) const override {
    training->proximal_mu = proximal_ ? options_.proximal_mu : 0.0f;
    training->clip_norm = static_cast<float>(options_.clip_norm);
    training->local_normalization = local_normalization_;
  }
  std::unique_ptr<Aggregator> MakeAggregator() const override { return make_aggregator_(); }
  bool buffers_updates() const override { return buffers_; }
  const aggregation::ServerOptimizerConfig& optimizer() const override {
    return options_.optimizer;
  }
  double clip_norm() const override { return options_.clip_norm; }
  bool uses_control_variates() const override { return control_; }

 private:
  const std::string name_;
  const StrategyOptions options_;
  const std::function<std::unique_ptr<Aggregator>()> make_aggregator_;
  const bool buffers_;
  const bool proximal_;
  const bool control_;
  const bool local_normalization_;
};

struct Entry {
  const char* name;
  ServerOptimizerKind optimizer;
  enum Rule { kMean, kMedian, kTrimmedMean, kKrum, kMultiKrum } rule;
  bool proximal;             // sends FedProx's mu in the task
  bool control;              // SCAFFOLD control variates
  bool local_normalization;  // FedBN
};

constexpr Entry kStrategies[] = {
    {"fedavg", ServerOptimizerKind::kSgd, Entry::kMean, false, false, false},
    {"fedavgm", ServerOptimizerKind::kMomentum, Entry::kMean, false, false, false},
    {"fedadagrad", ServerOptimizerKind::kAdagrad, Entry::kMean, false, false, false},
    {"fedadam", ServerOptimizerKind::kAdam, Entry::kMean, false, false, false},
    {"fedyogi", ServerOptimizerKind::kYogi, Entry::kMean, false, false, false},
    {"fedprox", ServerOptimizerKind::kSgd, Entry::kMean, true, false, false},
    {"scaffold", ServerOptimizerKind::kSgd, Entry::kMean, false, true, false},
    {"fedbn", ServerOptimizerKind::kSgd, Entry::kMean, false, false, true},
    {"median", ServerOptimizerKind::kSgd, Entry::kMedian, false, false, false},
    {"trimmed_mean", ServerOptimizerKind::kSgd, Entry::kTrimmedMean, false, false, false},
    {"krum", ServerOptimizerKind::kSgd, Entry::kKrum, false, false, false},
    {"multikrum", ServerOptimizerKind::kSgd, Entry::kMultiKrum, false, false, false},
};

std::function<std::unique_ptr<Aggregator>()> RuleFactory(const Entry& e,
                                                          const StrategyOptions& o) {
  switch (e.rule) {
    case Entry::kMedian:
      return [] { return aggregation::MakeMedianAggregator(); };
    case Entry::kTrimmedMean:
      return [beta = o.trim_beta] { return aggregation::MakeTrimmedMeanAggregator(beta); };
    case Entry::kKrum:
      return [f = o.byzantine] { return aggregation::MakeKrumAggregator(f, 1); };
    case Entry::kMultiKrum:
      return [f = o.byzantine, m = o.krum_select] { return aggregation::MakeKrumAggregator(f, m); };
    case Entry::kMean:
      break;
  }
  return [] { return aggregation::MakeFedAvgAggregator(); };
}

std::function<std::unique_ptr<Aggregator>()> AggregatorFactory(const Entry& e,
                                                                const StrategyOptions& o) {
  auto rule = RuleFactory(e, o);
  if (e.rule == Entry::kMean || o.bucket_size <= 1) return rule;
  // One seeded stream for the run: every round draws its own permutation.
  return [rule, size = o.bucket_size, seed = o.seed] {
    return aggregation::MakeBucketingAggregator(rule(), size, seed);
  };
}

}  // namespace

std::vector<std::string> StrategyNames() {
  std::vector<std::string> names;
  for (const Entry& e : kStrategies) names.push_back(e.name);
  return names;
}

absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const StrategyOptions& options) {
  const Entry* entry = nullptr;
  for (const Entry& e : kStrategies) {
    if (options.name == e.name) entry = &e;
  }
  if (entry == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--strategy=", options.name,
                                                   " is unknown; known strategies: ",
                                                   absl::StrJoin(StrategyNames(), ", ")));
  }
  StrategyOptions o = options;
  o.optimizer.kind = entry->optimizer;
  if (o.optimizer.learning_rate < 0) {
    const bool adaptive = entry->optimizer == ServerOptimizerKind::kAdagrad ||
                          entry->optimizer == ServerOptimizerKind::kAdam ||
                          entry->optimizer == ServerOptimizerKind::kYogi;
    o.optimizer.learning_rate = adaptive ? 0.01 : 1.0;
  }
  if (absl::Status s = aggregation::ValidateServerOptimizerConfig(o.optimizer); !s.ok()) return s;
  if (entry->proximal && !(o.proximal_mu > 0 && std::isfinite(o.proximal_mu))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--proximal_mu must be a positive number for fedprox, got ", o.proximal_mu));
  }
  if (entry->rule == Entry::kTrimmedMean && !(o.trim_beta >= 0 && o.trim_beta < 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--trim_beta must be in [0, 0.5), got ", o.trim_beta));
  }
  if (o.bucket_size > 1 && entry->rule == Entry::kMean) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--bucketing=", o.bucket_size, " applies to the robust rules (median, trimmed_mean, "
        "krum, multikrum), not --strategy=", entry->name));
  }
  if (o.bucket_size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--bucketing=", o.bucket_size, ": want at most 1000 updates a bucket"));
  }
  if (!(o.clip_norm >= 0) || !std::isfinite(o.clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--clip_norm must be 0 (off) or a positive number, got ", o.clip_norm));
  }
  const bool buffers = entry->rule != Entry::kMean;
  auto factory = AggregatorFactory(*entry, o);
  return std::unique_ptr<Strategy>(new TableStrategy(entry->name, std::move(o), std::move(factory),
                                                     buffers, entry->proximal, entry->control,
                                                     entry->local_normalization));
}

absl::Status CheckStrategyFits(const Strategy& strategy, const StrategyOptions& options,
                               bool secure, size_t cohort, size_t dim) {
  if (!strategy.buffers_updates()) return absl::OkStatus();
  if (secure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--strategy=", strategy.name(),
        " needs each client's update and cannot run with secure aggregation (--secure): "
        "SecAgg reveals only the sum. Use a mean-based strategy (fedavg, fedavgm, fedadam, "
        "fedyogi, fedadagrad, fedprox), optionally with --clip_norm, which composes with it"));
  }
  const uint64_t bytes = options.bucket_size > 1
                             ? aggregation::BucketedBufferedBytes(dim, cohort, options.bucket_size)
                             : aggregation::BufferedBytes(dim, cohort);
  const uint64_t limit = options.max_buffered_mb << 20;
  if (bytes > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--strategy=", strategy.name(), " buffers the whole cohort: ", cohort, " updates of ",
        dim, " floats need ", (bytes + (1u << 20) - 1) >> 20, " MiB, over --max_buffered_mb=",
        options.max_buffered_mb, "; lower --clients_per_round or raise --max_buffered_mb"));
  }
  return absl::OkStatus();
}

}  // namespace fedge::coordinator
