#ifndef FEDGE_AGGREGATION_SERVER_OPTIMIZER_H_
#define FEDGE_AGGREGATION_SERVER_OPTIMIZER_H_

// Server optimisers: how a round's combined update becomes the next global
// model. Reddi et al., "Adaptive Federated Optimization" (ICLR 2021), treat
// the negated mean client delta as a pseudo-gradient; this header implements
// their Algorithm 2 (FedAdagrad, FedAdam, FedYogi) with server momentum
// (FedAvgM, Hsu et al. 2019) and plain server SGD (FedAvg). No torch, no I/O.
//
// Only coordinates inside `parameter_ranges` (the manifest's kParameter
// tensors) are stepped by the optimiser; every other coordinate (BatchNorm
// statistics and counters) takes the mean delta as it is, so the global
// buffers are the clients' weighted mean whatever the optimiser.
//
// State (momenta, second moments) is part of the coordinator's checkpoint
// through SaveState / RestoreState, so a kill -9 between rounds resumes the
// same trajectory. Not thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fedge::aggregation {

enum class ServerOptimizerKind : uint32_t {
  kSgd = 0,       // x += lr * d                       (FedAvg; lr 1 is plain FedAvg)
  kMomentum = 1,  // v = momentum * v + d; x += lr * v  (FedAvgM)
  kAdagrad = 2,   // v += d^2
  kAdam = 3,      // v = beta2 * v + (1 - beta2) * d^2
  kYogi = 4,      // v = v - (1 - beta2) * d^2 * sign(v - d^2)
};

// The name used on the command line ("fedavg", "fedavgm", "fedadagrad",
// "fedadam", "fedyogi").
const char* ServerOptimizerName(ServerOptimizerKind kind);

struct ServerOptimizerConfig {
  ServerOptimizerKind kind = ServerOptimizerKind::kSgd;
  double learning_rate = 1.0;  // eta (server learning rate)
  double momentum = 0.9;       // FedAvgM's beta
  double beta1 = 0.9;          // adaptive: first-moment decay (m)
  double beta2 = 0.99;         // adam/yogi: second-moment decay (v)
  double tau = 1e-3;           // adaptive: degree of adaptivity; v starts at tau^2
};

// OK, or InvalidArgument naming the hyper-parameter out of range.
absl::Status ValidateServerOptimizerConfig(const ServerOptimizerConfig& config);

class ServerOptimizer {
 public:
  virtual ~ServerOptimizer() = default;

  // Turns the round's combined update `delta` (mean client weights minus the
  // global weights) into the next model, in place. InvalidArgument when the
  // sizes differ from the model's; `weights` is then untouched.
  virtual absl::Status Step(absl::Span<const float> delta, absl::Span<float> weights) = 0;

  virtual ServerOptimizerKind kind() const = 0;
  // Rounds stepped so far.
  virtual uint64_t steps() const = 0;

  // The state a restart needs (empty for kSgd); RestoreState takes it back.
  // InvalidArgument when `state` is malformed or of another model size.
  virtual std::string SaveState() const = 0;
  virtual absl::Status RestoreState(absl::string_view state) = 0;
};

// An optimiser for a model of `dim` floats. InvalidArgument for a bad config
// or ranges outside [0, dim).
absl::StatusOr<std::unique_ptr<ServerOptimizer>> MakeServerOptimizer(
    const ServerOptimizerConfig& config, size_t dim,
    std::vector<std::pair<uint64_t, uint64_t>> parameter_ranges);

}  // namespace fedge::aggregation

#endif  // FEDGE_AGGREGATION_SERVER_OPTIMIZER_H_
