#ifndef FEDGE_COORDINATOR_COORDINATOR_SERVER_H_
#define FEDGE_COORDINATOR_COORDINATOR_SERVER_H_

// Drives a Coordinator over one ZeroMQ ROUTER socket: receives frames, feeds
// them and the clock in, sends what the Coordinator emits. The poll timeout is
// the Coordinator's next deadline, so nothing waits longer than it must.
//
// With ServerSecurity the ROUTER is a CURVE server: every connection is
// encrypted and authenticated, a ZAP handler (protocol/zap_authenticator.h)
// admits only keys in the allow-list, and each frame reaches the Coordinator
// with its sender's key as Sender::identity. Failed handshakes (refused keys,
// plain-TCP peers, wrong pinned keys) are counted and logged at most once a
// second.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "coordinator/background_evaluator.h"
#include "coordinator/coordinator.h"
#include "protocol/envelope.h"
#include "protocol/handshake_monitor.h"
#include "protocol/wire.h"
#include "protocol/zap_authenticator.h"
#include "secure/allow_list.h"

namespace fedge::coordinator {

struct ServerSecurity {
  std::shared_ptr<const protocol::CurveServerKeys> keys;
  secure::AllowListFile* allow_list = nullptr;  // must outlive the server
};

// Enrolment backed by the allow-list file the ZAP handler uses: identities
// are CURVE public keys in hex (the ZAP User-Id). Thread-safe.
class AllowListEnrolment final : public Enrolment {
 public:
  explicit AllowListEnrolment(secure::AllowListFile* file) : file_(file) {}
  absl::Status Check(absl::string_view identity, uint64_t client_id) const override;

 private:
  secure::AllowListFile* file_;  // not owned
};

struct ServerSecurityStats {
  uint64_t handshakes_accepted = 0;  // by the ZAP handler
  uint64_t handshakes_refused = 0;   // by the ZAP handler: key not enrolled
  uint64_t handshakes_failed = 0;    // every failed handshake the socket saw
};

// Work the serving thread does besides frames and timers: the operator
// interface (coordinator/ops_bridge.h) publishes status and runs commands
// from here, the only thread that may touch the Coordinator.
class LoopHook {
 public:
  virtual ~LoopHook() = default;
  // Polled next to the socket: readable when the hook has work (-1: none).
  virtual int wake_fd() const = 0;
  // On the serving thread after every poll, at most 100 ms apart, and once
  // more after the coordinator finished.
  virtual void OnLoop(Coordinator& coordinator, absl::Time now) = 0;
};

// Frames of a kind the Coordinator does not serve, routed to another
// service on the serving thread (gateway inference: gateway/
// prediction_service.h). The handler decodes and answers them itself.
class FrameHandler {
 public:
  virtual ~FrameHandler() = default;
  virtual void OnFrame(const Sender& from, absl::string_view frame, absl::Time now) = 0;
};

class CoordinatorServer {
 public:
  // Binds `endpoint` ("tcp://127.0.0.1:*", "ipc:///tmp/x"); plain ZMTP unless
  // `security` is given. Unavailable if the bind fails; InvalidArgument for
  // incomplete security settings.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Create(
      const std::string& endpoint, size_t max_frame_bytes,
      std::optional<ServerSecurity> security = std::nullopt, Clock* clock = Clock::Real());
  ~CoordinatorServer();

  // The bound endpoint with any wildcard port resolved.
  const std::string& endpoint() const { return endpoint_; }

  // Serves until the coordinator is done or Stop() is called. `coordinator`
  // must have been created with outbox() as its Outbox and, when
  // `evaluations` is given, with it as its Evaluator: its results are polled
  // next to the socket and handed to the coordinator.
  absl::Status Serve(Coordinator* coordinator, BackgroundEvaluator* evaluations = nullptr);
  void Stop() { stop_.store(true); }

  // Testing only (fedge-coordinator --inject_fault): called on the serving
  // thread after each frame the coordinator handled, before the next.
  void set_after_frame(std::function<void(const Coordinator&)> hook) {
    after_frame_ = std::move(hook);
  }

  // Not owned; must outlive Serve. Add before Serve; run in this order.
  void add_loop_hook(LoopHook* hook) { loop_hooks_.push_back(hook); }

  // Frames of `kind` go to `handler` instead of the coordinator. Not owned;
  // must outlive Serve. Set before Serve.
  void Route(protocol::MessageKind kind, FrameHandler* handler) {
    routes_.emplace_back(kind, handler);
  }

  Outbox* outbox();
  bool secure() const { return zap_ != nullptr; }
  // Zeros on a plain server. Call from the serving thread or after Serve.
  ServerSecurityStats security_stats() const;

 private:
  class RouterOutbox;
  explicit CoordinatorServer(Clock* clock);
  void DrainHandshakeEvents();
  FrameHandler* RouteOf(absl::string_view frame) const;

  zmq::context_t ctx_;
  std::unique_ptr<protocol::ZapAuthenticator> zap_;  // before router_ binds
  zmq::socket_t router_;
  std::optional<protocol::HandshakeMonitor> monitor_;
  std::string endpoint_;
  Clock* clock_;
  std::unique_ptr<RouterOutbox> outbox_;
  std::atomic<bool> stop_{false};
  std::function<void(const Coordinator&)> after_frame_;
  std::vector<LoopHook*> loop_hooks_;
  std::vector<std::pair<protocol::MessageKind, FrameHandler*>> routes_;
  uint64_t handshakes_failed_ = 0;
  absl::Time last_handshake_log_ = absl::InfinitePast();
  uint64_t handshake_failures_unlogged_ = 0;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_COORDINATOR_SERVER_H_
