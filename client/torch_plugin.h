#ifndef FEDGE_CLIENT_TORCH_PLUGIN_H_
#define FEDGE_CLIENT_TORCH_PLUGIN_H_

// Loads the LibTorch trainer from the libfedge_torch_plugin.so module at run
// time. Linking LibTorch into a client costs ~0.9 s of start-up before main();
// loading it on the training thread lets the client register at once and keeps
// a process that never trains free of LibTorch. No torch in this header.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/trainer.h"
#include "protocol/model_payload.h"

namespace fedge::client {

// Looks in `first_dirs` (e.g. the device SDK library's own directory), then
// next to the executable, then in ../lib/fedge, then on the default library
// path. NotFound (listing where it looked) if the module is missing;
// Internal if it does not export the factory.
absl::StatusOr<std::unique_ptr<Trainer>> LoadTorchTrainer(
    const TorchTrainerOptions& options, const std::vector<std::string>& first_dirs = {});

// Offline inference with a model, built inside the module (a Predictor,
// libtorch/model_export.h, behind an interface so no LibTorch symbol crosses
// the module boundary). Thread-safe as Predictor is.
class PluginPredictor {
 public:
  virtual ~PluginPredictor() = default;
  // As Predictor::Predict: n x input_size() floats in, n x output_size() out.
  virtual absl::Status Predict(absl::Span<const float> inputs, size_t n,
                               absl::Span<float> outputs) = 0;
  virtual size_t input_size() const = 0;
  virtual size_t output_size() const = 0;
};

// Errors as Predictor::FromModel, or LoadTorchTrainer's when the module is
// missing.
absl::StatusOr<std::unique_ptr<PluginPredictor>> LoadTorchPredictor(
    const protocol::ModelPayload& model, int threads,
    const std::vector<std::string>& first_dirs = {});

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_TORCH_PLUGIN_H_
