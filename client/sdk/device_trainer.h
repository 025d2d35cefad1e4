#ifndef FEDGE_CLIENT_SDK_DEVICE_TRAINER_H_
#define FEDGE_CLIENT_SDK_DEVICE_TRAINER_H_

// The SDK's trainer around the torch plugin's: it records what happened to
// a run_once's task and stops training when the device becomes ineligible
// or runs out of max_train_ms. Internal to libfedge_client.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/trainer.h"
#include "fedge/client.h"
#include "protocol/messages.h"

namespace fedge::sdk {

// What happened to the task of one RunOnce. Written on the training thread,
// read after ClientHost::Run has joined it.
struct TaskRecord {
  bool received = false;
  bool trained = false;
  bool ineligible = false;
  uint64_t round = 0;
  uint64_t model_version = 0;
  protocol::PrivacyConfig privacy;  // what the task asked of the device
  absl::Status status;
  absl::Status data_status;  // loading the device's data for the task failed
};

using TrainerLoader = std::function<absl::StatusOr<std::shared_ptr<client::Trainer>>()>;

// Trains a task while the device stays eligible and within the time limit.
// LibTorch is loaded on the first task, not when the host starts, so a
// device waiting for a task stays small.
class DeviceTrainer final : public client::Trainer {
 public:
  // `inner` may be null (not loaded yet): `load` gives it.
  // `source` (the device's declaration) must outlive this.
  DeviceTrainer(std::shared_ptr<client::Trainer> inner, TrainerLoader load,
                std::function<bool()> eligible, absl::Duration max_train,
                const DataSource* source, TaskRecord* record)
      : inner_(std::move(inner)), load_(std::move(load)), eligible_(std::move(eligible)),
        max_train_(max_train), source_(source), record_(record) {}

  absl::Status Train(const protocol::Task& task, const client::Dataset& data,
                     const client::StopPredicate& should_stop,
                     client::TrainOutcome* out) override;
  std::vector<std::string> CachedArchitectures() const override {
    return inner_ != nullptr ? inner_->CachedArchitectures() : std::vector<std::string>();
  }

 private:
  std::shared_ptr<client::Trainer> inner_;
  TrainerLoader load_;
  std::function<bool()> eligible_;
  absl::Duration max_train_;
  const DataSource* source_;
  TaskRecord* record_;
};

}  // namespace fedge::sdk

#endif  // FEDGE_CLIENT_SDK_DEVICE_TRAINER_H_
