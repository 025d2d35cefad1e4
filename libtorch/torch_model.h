#ifndef FEDGE_LIBTORCH_TORCH_MODEL_H_
#define FEDGE_LIBTORCH_TORCH_MODEL_H_

// A LibTorch model (built-in module or TorchScript) seen as an ordered list of
// named float32 parameters, which is what the protocol's manifest describes.
// Includes torch: only training and evaluation code includes this header.
//
// Inputs are [N, *task.input_shape] float tensors (protocol/task_spec.h); the
// outputs are what the task's target wants (libtorch/objective.h). The
// built-ins take [N, 1, 28, 28] images and return [N, 10] logits.
// Parameters and buffers are federated: the manifest lists the parameters
// first, then the buffers (BatchNorm running statistics as kBuffer, its
// integer num_batches_tracked as kCounter), all as float32 in the flat
// weights, so evaluation and offline prediction use the federated statistics.
// Not thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/architecture.h"
#include "protocol/model_payload.h"

namespace fedge::client {

// One tensor a model federates, aliasing the module's storage.
struct FederatedTensor {
  std::string name;
  torch::Tensor tensor;
  protocol::TensorRole role = protocol::TensorRole::kParameter;
  bool normalization = false;  // held by a BatchNorm/GroupNorm/LayerNorm/InstanceNorm
};

// The tensors a module federates, in manifest order: every parameter, then
// every buffer (floating point: kBuffer; integer: kCounter), each marked when
// a normalisation module holds it (FedBN keeps those local). InvalidArgument
// names a parameter that is not float32 or a buffer of another kind (bool).
absl::StatusOr<std::vector<FederatedTensor>> FederatedTensors(const torch::jit::Module& module);
absl::StatusOr<std::vector<FederatedTensor>> FederatedTensors(const torch::nn::Module& module);

// The manifest describing `tensors`.
protocol::ModelManifest ManifestOf(const std::vector<FederatedTensor>& tensors);

// Copies flat weights (manifest order) into `tensors`, converting to each
// tensor's dtype; counters are rounded to the nearest integer.
// InvalidArgument when the sizes differ.
absl::Status CopyIntoTensors(absl::Span<const float> weights,
                             const std::vector<FederatedTensor>& tensors);

class TorchModel {
 public:
  virtual ~TorchModel();

  // TorchModel objects alive in this process: each holds its parameters and
  // their gradients. Lets tests check that a trainer keeps no model between
  // tasks. Thread-safe.
  static int64_t LiveCount();

  // Builds the architecture (verified against its id). InvalidArgument for a
  // corrupt or unloadable TorchScript archive or an unknown built-in.
  static absl::StatusOr<std::unique_ptr<TorchModel>> Create(const Architecture& arch);

  const protocol::ModelManifest& manifest() const { return manifest_; }

  // Copies flat weights (manifest order) into the parameters and buffers.
  absl::Status SetWeights(absl::Span<const float> weights);
  // SetWeights from a payload whose manifest must be this model's
  // (InvalidArgument naming the architecture otherwise).
  absl::Status Load(const protocol::ModelPayload& payload);
  void GetWeights(std::vector<float>* out);

  virtual torch::Tensor Forward(const torch::Tensor& x) = 0;
  virtual void SetTraining(bool training) = 0;
  // A TorchScript module's own `training_loss(input, target)` method, for
  // LossKind::kModule: a scalar the trainer minimises.
  virtual bool HasTrainingLoss() const { return false; }
  virtual torch::Tensor TrainingLoss(const torch::Tensor& x, const torch::Tensor& y);
  // The trainable tensors (the optimiser's), without the buffers.
  const std::vector<torch::Tensor>& parameters() const { return params_; }

 protected:
  TorchModel();
  // Called by subclasses once parameters and buffers exist.
  void InitTensors(std::vector<FederatedTensor> tensors);

 private:
  protocol::ModelManifest manifest_;
  std::vector<FederatedTensor> tensors_;  // manifest order
  std::vector<torch::Tensor> params_;
};

// Runs `body`, turning LibTorch's exceptions into a Status that names
// `what`: c10::Error (bad shapes, dtypes, archives) is InvalidArgument,
// anything else Internal.
absl::Status CatchTorch(const std::function<absl::Status()>& body, absl::string_view what);

// A freshly initialised model for a --model value, seeded, as a payload
// carrying `task`. InvalidArgument naming `flag_name` when the model does not
// take the task's inputs or its outputs do not fit the target.
absl::StatusOr<protocol::ModelPayload> InitialModelPayload(
    const std::string& model_flag, uint64_t seed, const protocol::TaskSpec& task,
    const std::string& flag_name = "--model");

// Sets LibTorch's intra-op threads and, when LibTorch's BLAS is OpenBLAS,
// OpenBLAS's own pool too (it ignores LibTorch's setting). Process-wide.
void SetTorchThreads(int threads);

}  // namespace fedge::client

#endif  // FEDGE_LIBTORCH_TORCH_MODEL_H_
