#include "client/sdk/device_trainer.h"

#include "absl/time/clock.h"
#include "client/sdk/device_data.h"

namespace fedge::sdk {

absl::Status DeviceTrainer::Train(const protocol::Task& task, const client::Dataset& data,
                                  const client::StopPredicate& should_stop,
                                  client::TrainOutcome* out) {
  TaskRecord& r = *record_;
  r.received = true;
  r.round = task.round;
  r.model_version = task.model_version;
  r.privacy = task.config.privacy;
  if (eligible_ && !eligible_()) {
    r.ineligible = true;
    r.status = absl::FailedPreconditionError("device not eligible: not training");
    return r.status;
  }
  // Before LibTorch is loaded: a device whose data cannot train this
  // model does not pay for it.
  if (absl::Status s = sdk::CheckDeviceDataFitsTask(data, *source_, task.model.task); !s.ok()) {
    return r.status = s;
  }
  if (inner_ == nullptr) {
    absl::StatusOr<std::shared_ptr<client::Trainer>> loaded = load_();
    if (!loaded.ok()) return r.status = loaded.status();
    inner_ = *std::move(loaded);
  }
  const absl::Time deadline = max_train_ > absl::ZeroDuration()
                                  ? absl::Now() + max_train_ : absl::InfiniteFuture();
  bool timed_out = false;
  r.status = inner_->Train(task, data, [&] {
    if (should_stop && should_stop()) return true;
    if (absl::Now() > deadline) return timed_out = true;
    if (eligible_ && !eligible_()) return r.ineligible = true;
    return false;
  }, out);
  if (!r.status.ok() && r.ineligible) {
    r.status = absl::FailedPreconditionError(
        "device became ineligible during training: stopped, nothing uploaded");
  } else if (!r.status.ok() && timed_out) {
    r.status = absl::DeadlineExceededError("training exceeded max_train_ms");
  }
  r.trained = r.status.ok();
  return r.status;
}

}  // namespace fedge::sdk
