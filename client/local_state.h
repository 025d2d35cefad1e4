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
// On a failed or cancelled task nothing is kept. In memory only: a
// simulation's logical clients live as long as their process. Not
// thread-safe (the training thread owns it).

#include <cstdint>
#include <memory>
#include <vector>

#include "client/trainer.h"

namespace fedge::client {

// Local steps a task takes on `examples` examples: epochs x ceil(n / batch),
// n capped at max_examples when set.
uint64_t LocalSteps(const protocol::TrainingConfig& config, uint64_t examples);

// `inner` must outlive the result.
std::unique_ptr<Trainer> MakeLocalStateTrainer(Trainer* inner);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_LOCAL_STATE_H_
