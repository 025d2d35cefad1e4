#include "client/sdk/device_state.h"

#include <utility>

#include "base/log.h"
#include "client/local_state.h"

namespace fedge::sdk {

DeviceState::DeviceState(std::string dir, uint64_t client_id, FileSystem* fs)
    : store_(std::move(dir), client_id, fs) {
  client::LocalState loaded = store_.LoadOrStartAfresh();
  absl::MutexLock lock(&mu_);
  kept_ = std::move(loaded);
}

client::LocalState DeviceState::Current() const {
  absl::MutexLock lock(&mu_);
  return kept_;
}

void DeviceState::Finish(const client::LocalState& trained, bool accepted) {
  // Only Finish writes kept_ (run_once calls are serialised); the lock is
  // held for the copies, never across the fsync.
  const client::LocalState kept = Current();
  const bool changed = !(trained == kept);
  if (changed && !accepted) {
    FEDGE_LOG(kInfo, "local strategy state of this task not kept: its update was not sent or "
              "was refused");
  }
  const bool keep = changed && accepted;
  if (!keep && !unsaved_) return;
  const client::LocalState& next = keep ? trained : kept;
  absl::Status saved = store_.Save(next);
  if (!saved.ok()) {
    FEDGE_LOG(kError, "%s (kept in memory; saved again at the next run_once)", saved.ToString());
  }
  unsaved_ = !saved.ok();
  if (!keep) return;
  absl::MutexLock lock(&mu_);
  kept_ = trained;
  ++generation_;
}

uint64_t DeviceState::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

std::optional<protocol::ModelPayload> DeviceState::OwnModel(const protocol::ModelPayload& model,
                                                            uint64_t* generation) const {
  absl::MutexLock lock(&mu_);
  *generation = generation_;
  if (!kept_.local_normalization) return std::nullopt;
  protocol::ModelPayload own = model;
  if (!client::OverlayLocalNormalization(kept_, &own)) {
    FEDGE_LOG(kWarning, "FedBN: the device's own normalisation values belong to another model "
              "than the stored one; predicting with the stored model's");
    return std::nullopt;
  }
  return own;
}

}  // namespace fedge::sdk
