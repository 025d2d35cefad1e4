#ifndef FEDGE_CLIENT_TORCH_MODEL_H_
#define FEDGE_CLIENT_TORCH_MODEL_H_

// A LibTorch model (built-in module or TorchScript) seen as an ordered list of
// named float32 parameters, which is what the protocol's manifest describes.
// Includes torch: only training and evaluation code includes this header.
//
// Inputs are [N, 1, rows, cols] float tensors scaled to [0, 1]; the output is
// [N, classes] logits. A TorchScript module must follow the same contract.
// Only parameters are federated; buffers (e.g. BatchNorm statistics) stay local.
// Not thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/architecture.h"
#include "protocol/model_payload.h"

namespace fedge::client {

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

  // Copies flat weights (manifest order) into the parameters.
  absl::Status SetWeights(absl::Span<const float> weights);
  void GetWeights(std::vector<float>* out);

  virtual torch::Tensor Forward(const torch::Tensor& x) = 0;
  virtual void SetTraining(bool training) = 0;
  const std::vector<torch::Tensor>& parameters() const { return params_; }

 protected:
  TorchModel();
  // Called by subclasses once parameters exist.
  void InitParameters(std::vector<std::pair<std::string, torch::Tensor>> named);

 private:
  protocol::ModelManifest manifest_;
  std::vector<torch::Tensor> params_;
};

// A freshly initialised model for a --model value, seeded, as a payload.
absl::StatusOr<protocol::ModelPayload> InitialModelPayload(const std::string& model_flag,
                                                           uint64_t seed);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_TORCH_MODEL_H_
