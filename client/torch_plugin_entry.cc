// The one symbol libfedge_torch_plugin.so exports (see torch_plugin.h).

#include "client/trainer.h"

extern "C" __attribute__((visibility("default"))) fedge::client::Trainer*
fedge_torch_plugin_make_trainer(int threads) {
  try {
    fedge::client::TorchTrainerOptions options;
    options.threads = threads;
    return fedge::client::MakeTorchTrainer(options).release();
  } catch (...) {
    return nullptr;  // nothing crosses the module boundary as an exception
  }
}
