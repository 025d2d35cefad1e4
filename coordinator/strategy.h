#ifndef FEDGE_COORDINATOR_STRATEGY_H_
#define FEDGE_COORDINATOR_STRATEGY_H_

// A federated strategy: what the server asks of the cohort (client-side
// settings carried in the task, such as FedProx's proximal term), how the
// round's updates are combined (an aggregation::Aggregator: streaming FedAvg,
// or a robust rule that buffers the cohort), and the ServerOptimizer that
// turns the combined update into the next model. The coordinator asks the
// strategy; it never tests which one runs.
//
// Strategies are registered by name in strategy.cc (one table row each);
// docs/strategies.md shows how to add one.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aggregation/aggregator.h"
#include "aggregation/server_optimizer.h"
#include "protocol/messages.h"

namespace fedge::coordinator {

// Everything the --strategy family of flags sets. Fields a strategy does not
// use are ignored by it.
struct StrategyOptions {
  std::string name = "fedavg";
  // Server optimiser hyper-parameters (learning rate, momentum, betas, tau).
  // learning_rate < 0 means "the strategy's default" (1.0 for fedavg and
  // fedavgm, 0.01 for the adaptive ones).
  aggregation::ServerOptimizerConfig optimizer{aggregation::ServerOptimizerKind::kSgd, -1.0};
  float proximal_mu = 0.01f;     // fedprox
  double trim_beta = 0.1;        // trimmed_mean: share cut at each end
  uint32_t byzantine = 0;        // krum/multikrum: f, the attackers tolerated
  uint32_t krum_select = 0;      // multikrum: m; 0 = n - f
  // Robust rules: bucketing (aggregation/robust.h) with buckets of this many
  // updates; 0 or 1 = off. The permutations are drawn from `seed`.
  uint32_t bucket_size = 0;
  uint64_t seed = 0;
  // Update-norm bounding, composable with every strategy: each client clips
  // its delta to this L2 norm before upload (so it composes with SecAgg), and
  // the coordinator clips again in plain rounds. 0 = off.
  double clip_norm = 0;
  // Refuse strategies that buffer the cohort when the cohort's updates would
  // take more than this many MiB.
  uint64_t max_buffered_mb = 2048;
};

class Strategy {
 public:
  virtual ~Strategy() = default;

  virtual const std::string& name() const = 0;
  // Client-side settings for the cohort's task (proximal term, clip norm).
  virtual void ConfigureTask(protocol::TrainingConfig* training) const = 0;
  // A fresh combiner for one round's updates.
  virtual std::unique_ptr<aggregation::Aggregator> MakeAggregator() const = 0;
  // True when MakeAggregator's rule needs every update of the cohort at once
  // (robust rules): such strategies cannot run under secure aggregation.
  virtual bool buffers_updates() const = 0;
  // The server optimiser's configuration (kind and hyper-parameters).
  virtual const aggregation::ServerOptimizerConfig& optimizer() const = 0;
  // The coordinator's own clip of each plain update (0 = none).
  virtual double clip_norm() const = 0;
  // SCAFFOLD: the server keeps a control variate, sends it in every task and
  // updates it from the clients' control-variate changes.
  virtual bool uses_control_variates() const = 0;
};

// The strategy named by options.name. InvalidArgument naming the flag for an
// unknown name (listing the known ones) or a hyper-parameter out of range.
absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const StrategyOptions& options);

// The registered names, in table order.
std::vector<std::string> StrategyNames();

// OK, or InvalidArgument naming the flags, when `strategy` cannot run with
// secure aggregation (`secure`), or would buffer more than max_buffered_mb for
// `cohort` updates of `dim` floats.
absl::Status CheckStrategyFits(const Strategy& strategy, const StrategyOptions& options,
                               bool secure, size_t cohort, size_t dim);

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_STRATEGY_H_
