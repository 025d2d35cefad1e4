#ifndef FEDGE_CLIENT_TRAINER_H_
#define FEDGE_CLIENT_TRAINER_H_

// The seam between the client runtime and whatever trains. No torch here: the
// LibTorch implementation lives behind MakeTorchTrainer().

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/clock.h"
#include "data/dataset.h"
#include "client/device_privacy.h"
#include "protocol/messages.h"

namespace fedge::client {

using data::Dataset;

struct TrainOutcome {
  std::vector<float> delta;  // local weights minus task.model.weights
  uint64_t num_examples = 0;
  protocol::LocalMetrics metrics;
  // SCAFFOLD: the change of this client's control variate (client/local_state.h);
  // empty for other strategies.
  std::vector<float> control_delta;
  // What differential privacy did to `delta` on the device (the runtime
  // fills it in after training; client/device_privacy.h).
  DevicePrivacy privacy;
  // Set by the runtime when the task asks for update compression: `delta`
  // is then empty and `packed` holds it in `encoding`
  // (compression/compression.h).
  protocol::DeltaEncoding encoding = protocol::DeltaEncoding::kFloat32;
  std::string packed;
};

// Server-side (or on-device) evaluation of a set of weights.
// Metrics as libtorch/objective.h defines them.
struct EvalResult {
  double loss = 0;
  bool has_accuracy = true;  // class, binary, multi-label targets
  double accuracy = 0;
  double mse = 0, mae = 0;  // real targets
  int64_t examples = 0;
};

// Polled between batches; returning true abandons training with Cancelled.
using StopPredicate = std::function<bool()>;

class Trainer {
 public:
  virtual ~Trainer() = default;

  // Trains task.model on `data` as task.config says and fills `*out` (reusing
  // its storage). Errors: FailedPrecondition when the task omits an
  // architecture this trainer has not cached; InvalidArgument for a corrupt
  // architecture, a manifest that does not match it, weights of the wrong
  // length, data that does not fit the model's task (data::CheckFitsTask) or
  // a model whose outputs do not fit its target, all before the first step;
  // Cancelled when `should_stop` fired.
  virtual absl::Status Train(const protocol::Task& task, const Dataset& data,
                             const StopPredicate& should_stop, TrainOutcome* out) = 0;

  // Federated evaluation (task.config.evaluate_only): evaluates task.model on
  // `data` (the client's held-out split) into `*out`. The same errors as
  // Train for the model and the data; Unimplemented by default.
  virtual absl::Status Evaluate(const protocol::Task& task, const Dataset& data,
                                EvalResult* out) {
    (void)task, (void)data, (void)out;
    return absl::UnimplementedError("this trainer does not evaluate");
  }

  // Architecture ids this trainer can build without being sent the bytes.
  virtual std::vector<std::string> CachedArchitectures() const = 0;
};

struct TorchTrainerOptions {
  int threads = 1;  // LibTorch intra-op threads; >1 is slower on 2 cores.
  // Keep one model per architecture between tasks (weights are overwritten
  // by each task's) and skip returning freed memory to the kernel: for a
  // process hosting many logical clients (simulations), which would
  // otherwise rebuild the model, and for TorchScript reparse its archive,
  // for every task. A device keeps nothing between tasks (false).
  bool keep_models = false;
  // What TrainOutcome::metrics.train_seconds is measured with; must outlive
  // the trainer.
  Clock* clock = Clock::Real();
};
std::unique_ptr<Trainer> MakeTorchTrainer(const TorchTrainerOptions& options = {});

class ModelEvaluator {
 public:
  virtual ~ModelEvaluator() = default;
  // InvalidArgument when the weights do not fit the architecture.
  virtual absl::StatusOr<EvalResult> Evaluate(absl::Span<const float> weights) = 0;
};

// Evaluates models of `architecture_id` (bytes as in ModelPayload) solving
// `task` on `data`. InvalidArgument when the data does not fit the task.
absl::StatusOr<std::unique_ptr<ModelEvaluator>> MakeTorchEvaluator(
    const std::string& architecture_id, const std::string& architecture,
    const protocol::TaskSpec& task, Dataset data);

// The backdoor attack's success (client/attack.h) on `test`: the returned
// evaluator's accuracy is the share of test images whose class is not
// `target` that a model classifies as `target` once the trigger is stamped on
// them; its loss is the cross-entropy towards `target`.
absl::StatusOr<std::unique_ptr<ModelEvaluator>> MakeBackdoorEvaluator(
    const std::string& architecture_id, const std::string& architecture,
    const protocol::TaskSpec& task, const Dataset& test, uint8_t target);

// A freshly initialised model for a --model value ("mlp", "cnn" or a
// TorchScript path), seeded, as a payload with its architecture bytes and
// `task`. InvalidArgument when the model's outputs do not fit the task.
absl::StatusOr<protocol::ModelPayload> MakeInitialModel(const std::string& model_flag,
                                                        uint64_t seed,
                                                        const protocol::TaskSpec& task);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_TRAINER_H_
