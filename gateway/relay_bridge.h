#ifndef FEDGE_GATEWAY_RELAY_BRIDGE_H_
#define FEDGE_GATEWAY_RELAY_BRIDGE_H_

// fedge-gateway's two halves meet here. Upstream, the gateway is one client
// of the root (a ClientHost whose Trainer is this bridge's): "training" a
// task means running it as a round over the gateway's devices. Downstream,
// it is a coordinator in relay mode (coordinator.h), driven by its
// CoordinatorServer on the serving thread.
//
// Train (on the ClientHost's training thread) posts the root's task and
// waits; the serving thread picks it up in OnLoop (a LoopHook, woken by an
// eventfd) and starts the relay round; the round's outcome comes back
// through OnRelayDone (the RelaySink, also on the serving thread) and wakes
// Train, which returns the devices' mean update and example count. Nothing
// else crosses threads.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/wake_fd.h"
#include "client/trainer.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_server.h"

namespace fedge::gateway {

class RelayBridge final : public coordinator::RelaySink, public coordinator::LoopHook {
 public:
  // Internal if the wake-up descriptor cannot be created.
  static absl::StatusOr<std::unique_ptr<RelayBridge>> Create();
  ~RelayBridge() override;

  // A Trainer for the upstream ClientHost (one at a time; not owned by the
  // bridge, which must outlive it).
  std::unique_ptr<client::Trainer> MakeTrainer();

  // Any thread: the root ended the run; the serving thread tells the
  // devices to shut down (Coordinator::EndRelay) on its next loop.
  void EndRun(const std::string& reason);

  // ---- RelaySink, LoopHook: the serving thread only ----
  void OnRelayDone(uint64_t round, absl::StatusOr<coordinator::RelayResult> result) override;
  int wake_fd() const override { return wake_.fd(); }
  void OnLoop(coordinator::Coordinator& coordinator, absl::Time now) override;

  // The training thread: runs `task` over the devices; Cancelled when
  // `should_stop` fired first (the root moved on or the run ends).
  absl::StatusOr<coordinator::RelayResult> Relay(const protocol::Task& task,
                                                 const client::StopPredicate& should_stop);

 private:
  explicit RelayBridge(WakeFd wake) : wake_(std::move(wake)) {}
  void Wake();

  const WakeFd wake_;
  absl::Mutex mu_;
  std::optional<protocol::Task> posted_ ABSL_GUARDED_BY(mu_);
  // The outcome for the round being waited for (by its id).
  std::optional<std::pair<uint64_t, absl::StatusOr<coordinator::RelayResult>>> done_
      ABSL_GUARDED_BY(mu_);
  std::optional<std::string> end_reason_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fedge::gateway

#endif  // FEDGE_GATEWAY_RELAY_BRIDGE_H_
