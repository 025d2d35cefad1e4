#ifndef FEDGE_CLIENT_SDK_DEVICE_STATE_H_
#define FEDGE_CLIENT_SDK_DEVICE_STATE_H_

// The device's strategy state (SCAFFOLD's c_i, FedBN's own normalisation
// values; client/local_state.h) across run_once calls and restarts: loaded
// from `local-state.fls` in the model store directory when the client is
// created, trained from by each run_once, and saved again (crash-safely,
// client/local_state_store.h) after a run_once whose update the coordinator
// did not refuse. The predictor asks it for the device's own model (FedBN).
//
// Thread-safe: run_once (Current, Finish) and prediction (OwnModel) may run
// concurrently.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/file_system.h"
#include "client/local_state_store.h"
#include "protocol/model_payload.h"

namespace fedge::sdk {

class DeviceState {
 public:
  // Reads the saved state (LocalStateStore::LoadOrStartAfresh: an unusable
  // file is set aside and logged, and the device starts afresh). `fs` must
  // outlive this.
  DeviceState(std::string dir, uint64_t client_id, FileSystem* fs);

  // The kept state, for a run_once to train from.
  client::LocalState Current() const;

  // After a run_once: `trained` is the state its task left (Current() if
  // none trained). Kept only when `accepted`: the update was sent and the
  // coordinator did not refuse it. For SCAFFOLD that is what keeps c_i in
  // step with the server's c, which adds this client's change c_i+ - c_i
  // only from an update it aggregated: a task that failed, was cancelled or
  // whose update was refused leaves c_i as it was, so the next task starts
  // from the c_i the server knows. (An update lost in transit after it was
  // sent, or accepted into a round that then failed, is indistinguishable
  // here from an accepted one; the server's c then lacks a change the device
  // kept, the same bounded drift as a lost state file.) FedBN's layers
  // follow the same rule: one state, one decision.
  // A kept state is saved durably before this returns; if saving fails it
  // is logged, kept in memory and saved again at the next Finish (the next
  // run_once).
  void Finish(const client::LocalState& trained, bool accepted);

  // Changes each time Finish keeps a new state (to reload a predictor).
  uint64_t generation() const;

  // FedBN: `model` with the device's own normalisation values over its
  // normalisation tensors, when the last task the device trained said
  // local_normalization and the state belongs to this model's layout;
  // nullopt otherwise (predict with `model` as stored). `*generation` gets
  // the generation the answer reflects.
  std::optional<protocol::ModelPayload> OwnModel(const protocol::ModelPayload& model,
                                                 uint64_t* generation) const;

  const std::string& path() const { return store_.path(); }

 private:
  // Used by Finish only (run_once calls are serialised), outside mu_, so a
  // prediction never waits for an fsync.
  client::LocalStateStore store_;

  mutable absl::Mutex mu_;
  client::LocalState kept_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool unsaved_ = false;  // Finish only: kept_ is newer than the file
};

}  // namespace fedge::sdk

#endif  // FEDGE_CLIENT_SDK_DEVICE_STATE_H_
