#ifndef FEDGE_CLIENT_LOCAL_STATE_H_
#define FEDGE_CLIENT_LOCAL_STATE_H_

// State a logical client keeps across its rounds for strategies that need
// it, as a Trainer decorator around the shared trainer (one per logical
// client). No torch.
//
// SCAFFOLD (Karimireddy et al. 2020, Algorithm 1, option II): the client's
// control variate c_i starts at zero. The task carries the server's c; the
// inner trainer gets c - c_i as its per-step gradient correction (over the
// parameter coordinates). After K local steps with learning rate eta:
//   c_i+ = c_i - c + (x - y_i) / (K eta),  upload delta and c_i+ - c_i.
// FedBN (Li et al. 2021): with task.config.local_normalization, the
// manifest's normalisation tensors keep this client's own values: they are
// trained from them, never taken from the global model, and uploaded as a
// zero delta.
// On a failed or cancelled task nothing is kept. The state (LocalState,
// client/local_state_store.h) belongs to one model (its ModelFingerprint):
// a task of another model starts afresh, logging that it dropped the old
// state.
//
// Where the state lives: a simulation's logical clients keep it in memory
// for the life of their process (MakeLocalStateTrainer(inner)); the device
// SDK passes its own LocalState, loaded from and saved to the device's store
// (client/sdk/client.cc). Not thread-safe (the training thread owns it, and
// the state while it trains).

#include <cstdint>
#include <memory>
#include <vector>

#include "client/local_state_store.h"
#include "client/trainer.h"

namespace fedge::client {

// Local steps a task takes on `examples` examples: epochs x ceil(n / batch),
// n capped at max_examples when set.
uint64_t LocalSteps(const protocol::TrainingConfig& config, uint64_t examples);

// Keeps the state in the trainer, in memory. `inner` must outlive the result.
std::unique_ptr<Trainer> MakeLocalStateTrainer(Trainer* inner);
// Keeps the state in `*state`, which starts the first task (e.g. as loaded
// from a store) and holds the state after each successful task (to be saved
// by the caller). `inner` and `state` must outlive the result; the caller
// touches `*state` only while no Train or Evaluate call runs.
std::unique_ptr<Trainer> MakeLocalStateTrainer(Trainer* inner, LocalState* state);

// FedBN on a device's own model: when `state` says local_normalization and
// belongs to `model` (same fingerprint and length), writes the state's
// normalisation values over the model's normalisation tensors and returns
// true; otherwise leaves `model` alone and returns false.
bool OverlayLocalNormalization(const LocalState& state, protocol::ModelPayload* model);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_LOCAL_STATE_H_
