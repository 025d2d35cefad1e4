#ifndef FEDGE_CLIENT_TORCH_PLUGIN_H_
#define FEDGE_CLIENT_TORCH_PLUGIN_H_

// Loads the LibTorch trainer from the libfedge_torch_plugin.so module at run
// time. Linking LibTorch into a client costs ~0.9 s of start-up before main();
// loading it on the training thread lets the client register at once and keeps
// a process that never trains free of LibTorch. No torch in this header.

#include <memory>

#include "absl/status/statusor.h"
#include "client/trainer.h"

namespace fedge::client {

// Looks next to the executable, then in ../lib/fedge, then on the default
// library path. NotFound (listing where it looked) if the module is missing;
// Internal if it does not export the factory.
absl::StatusOr<std::unique_ptr<Trainer>> LoadTorchTrainer(const TorchTrainerOptions& options);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_TORCH_PLUGIN_H_
