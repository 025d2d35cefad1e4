#ifndef FEDGE_COORDINATOR_COORDINATOR_SERVER_H_
#define FEDGE_COORDINATOR_COORDINATOR_SERVER_H_

// Drives a Coordinator over one ZeroMQ ROUTER socket: receives frames, feeds
// them and the clock in, sends what the Coordinator emits. The poll timeout is
// the Coordinator's next deadline, so nothing waits longer than it must.

#include <atomic>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {

class CoordinatorServer {
 public:
  // Binds `endpoint` ("tcp://127.0.0.1:*", "ipc:///tmp/x"). Unavailable if the
  // bind fails.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Create(
      const std::string& endpoint, size_t max_frame_bytes, Clock* clock = Clock::Real());
  ~CoordinatorServer();

  // The bound endpoint with any wildcard port resolved.
  const std::string& endpoint() const { return endpoint_; }

  // Serves until the coordinator is done or Stop() is called. `coordinator`
  // must have been created with outbox() as its Outbox.
  absl::Status Serve(Coordinator* coordinator);
  void Stop() { stop_.store(true); }

  Outbox* outbox();

 private:
  class RouterOutbox;
  CoordinatorServer(zmq::context_t ctx, zmq::socket_t router, std::string endpoint,
                    Clock* clock);

  zmq::context_t ctx_;
  zmq::socket_t router_;
  std::string endpoint_;
  Clock* clock_;
  std::unique_ptr<RouterOutbox> outbox_;
  std::atomic<bool> stop_{false};
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_COORDINATOR_SERVER_H_
