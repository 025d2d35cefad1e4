#ifndef FEDGE_COORDINATOR_OPS_BRIDGE_H_
#define FEDGE_COORDINATOR_OPS_BRIDGE_H_

// Joins a running Coordinator to the operator interface (ops/): on the
// serving thread it publishes the run's status to a StatusBoard (every
// 250 ms, and at once after a round ends or a command ran) and answers the
// ControlChannel's commands (pause, resume, stop, clients, model). The HTTP
// threads only ever see the published snapshots.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_server.h"
#include "ops/control_channel.h"
#include "ops/run_status.h"
#include "ops/status_board.h"

namespace fedge::coordinator {

struct OpsBridgeOptions {
  std::string version;
  uint64_t rounds = 0;  // rounds the run completes
  std::shared_ptr<const std::vector<ops::ConfigEntry>> config;
  // The allow-list's size now; null with --insecure.
  std::function<size_t()> enrolled;
  // The current model as a signed model-store file (client/model_file.h),
  // for GET /model; null: not offered.
  std::function<absl::StatusOr<std::string>(Coordinator&)> export_model;
  absl::Duration publish_every = absl::Milliseconds(250);
};

class OpsBridge final : public LoopHook, public RoundObserver {
 public:
  // `server` (for its handshake counts), `board` and `control` must outlive
  // the bridge. `next` (may be null) gets every round report after it.
  OpsBridge(OpsBridgeOptions options, const CoordinatorServer* server, ops::StatusBoard* board,
            ops::ControlChannel* control, RoundObserver* next, absl::Time started);

  int wake_fd() const override { return control_->wake_fd(); }
  void OnLoop(Coordinator& coordinator, absl::Time now) override;
  // Called on the serving thread by the Coordinator.
  void OnRoundEnd(const RoundReport& report) override;

  // The status as it would be published now.
  ops::RunStatus Status(const Coordinator& coordinator, absl::Time now) const;

 private:
  ops::CommandReply Run(ops::Command command, Coordinator& coordinator, absl::Time now);

  const OpsBridgeOptions options_;
  const CoordinatorServer* const server_;
  ops::StatusBoard* const board_;
  ops::ControlChannel* const control_;
  RoundObserver* const next_;
  const absl::Time started_;
  std::shared_ptr<const std::vector<ops::RoundPoint>> history_;
  ops::DurationHistogram round_seconds_;
  std::optional<double> test_accuracy_, test_loss_;
  absl::Time last_publish_ = absl::InfinitePast();
  bool dirty_ = true;
};

// The flags of this binary (those `is_own` accepts), for the status page.
std::shared_ptr<const std::vector<ops::ConfigEntry>> FlagsForStatus(
    const std::function<bool(absl::string_view file)>& is_own);

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_OPS_BRIDGE_H_
