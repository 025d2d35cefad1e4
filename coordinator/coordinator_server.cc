#include "coordinator/coordinator_server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "secure/key_files.h"

namespace fedge::coordinator {

// Sends shared frames without copying: ZeroMQ keeps a reference to the string
// until the bytes are on the wire.
class CoordinatorServer::RouterOutbox final : public Outbox {
 public:
  explicit RouterOutbox(zmq::socket_t* router) : router_(router) {}
  absl::Status Send(const std::string& peer, std::shared_ptr<const std::string> frame) override {
    auto* holder = new std::shared_ptr<const std::string>(std::move(frame));
    zmq::message_t msg(const_cast<char*>((*holder)->data()), (*holder)->size(),
                       [](void*, void* hint) {
                         delete static_cast<std::shared_ptr<const std::string>*>(hint);
                       },
                       holder);
    return protocol::SendRouted(*router_, peer, std::move(msg));
  }

 private:
  zmq::socket_t* router_;
};

absl::Status AllowListEnrolment::Check(absl::string_view identity, uint64_t client_id) const {
  if (identity.empty()) {
    return absl::PermissionDeniedError("the connection is not authenticated");
  }
  absl::StatusOr<std::array<uint8_t, 32>> key = secure::ParsePublicKeyHex(identity);
  if (!key.ok()) return absl::PermissionDeniedError("the connection's identity is not a key");
  const std::shared_ptr<const secure::AllowList> list = file_->Current();
  const std::vector<uint64_t>* ids = list->Find(*key);
  const std::string shown = absl::StrCat(identity.substr(0, 8), "...");
  if (ids == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("key ", shown, " is no longer in the allow-list ", file_->path()));
  }
  if (!list->IsEnrolled(*key, client_id)) {
    return absl::PermissionDeniedError(absl::StrCat("key ", shown, " is enrolled for client ids ",
                                                    absl::StrJoin(*ids, ","), " in ",
                                                    file_->path(), ", not ", client_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Create(
    const std::string& endpoint, size_t max_frame_bytes, std::optional<ServerSecurity> security,
    Clock* clock) {
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer(clock));
  protocol::SocketConfig cfg;
  cfg.max_frame_bytes = max_frame_bytes;
  if (security.has_value()) {
    if (security->keys == nullptr || security->allow_list == nullptr) {
      return absl::InvalidArgumentError("a CURVE server needs its keys and an allow-list");
    }
    if (!zmq_has("curve")) {
      return absl::FailedPreconditionError("this libzmq was built without CURVE support");
    }
    // The ZAP handler must be listening before the first handshake.
    FEDGE_ASSIGN_OR_RETURN(server->zap_,
                           protocol::ZapAuthenticator::Start(server->ctx_, security->allow_list));
    cfg.curve_server = security->keys;
  }
  server->router_ = zmq::socket_t(server->ctx_, zmq::socket_type::router);
  FEDGE_RETURN_IF_ERROR(protocol::ConfigureSocket(server->router_, cfg));
  // ZeroMQ's default of 1,000 queued messages per connection is per process,
  // not per client, once a process's clients share one connection (channels,
  // protocol/wire.h): 1,000 tasks or Shutdowns to one process in a burst
  // would be dropped silently. Frames are shared, not copied, so a deeper
  // queue costs little memory.
  server->router_.set(zmq::sockopt::sndhwm, protocol::kConnectionQueueMessages);
  server->router_.set(zmq::sockopt::rcvhwm, protocol::kConnectionQueueMessages);
  if (security.has_value()) {
    FEDGE_ASSIGN_OR_RETURN(server->monitor_,
                           protocol::HandshakeMonitor::Start(server->ctx_, server->router_));
  }
  FEDGE_ASSIGN_OR_RETURN(server->endpoint_, protocol::Bind(server->router_, endpoint));
  server->outbox_ = std::make_unique<RouterOutbox>(&server->router_);
  return server;
}

CoordinatorServer::CoordinatorServer(Clock* clock) : clock_(clock) {}

CoordinatorServer::~CoordinatorServer() {
  monitor_.reset();  // before the socket it watches
  if (router_.handle() != nullptr) {
    // Give queued Shutdown messages a moment to leave; linger is 0 otherwise.
    router_.set(zmq::sockopt::linger, 2000);
    router_.close();
  }
  zap_.reset();  // after every CURVE socket is gone
}

Outbox* CoordinatorServer::outbox() { return outbox_.get(); }

ServerSecurityStats CoordinatorServer::security_stats() const {
  ServerSecurityStats s;
  if (zap_ != nullptr) {
    s.handshakes_accepted = zap_->accepted();
    s.handshakes_refused = zap_->refused();
  }
  s.handshakes_failed = handshakes_failed_;
  return s;
}

void CoordinatorServer::DrainHandshakeEvents() {
  while (std::optional<protocol::HandshakeEvent> e = monitor_->Next()) {
    if (!e->failed()) continue;
    ++handshakes_failed_;
    // The ZAP handler logs the keys it refuses; log the other failures (plain
    // TCP peers, clients pinning another key) at most once a second.
    if (e->kind == protocol::HandshakeEvent::Kind::kRefusedByAuthenticator) continue;
    const absl::Time now = clock_->Now();
    if (now - last_handshake_log_ < absl::Seconds(1)) {
      ++handshake_failures_unlogged_;
      continue;
    }
    FEDGE_LOG(kWarning, "refused a connection: %s%s", e->Describe(),
              handshake_failures_unlogged_ == 0
                  ? std::string()
                  : absl::StrCat(" (and ", handshake_failures_unlogged_, " more not logged)"));
    last_handshake_log_ = now;
    handshake_failures_unlogged_ = 0;
  }
}

FrameHandler* CoordinatorServer::RouteOf(absl::string_view frame) const {
  if (routes_.empty()) return nullptr;
  const std::optional<protocol::MessageKind> kind = protocol::PeekKind(frame);
  if (!kind.has_value()) return nullptr;
  for (const auto& [k, handler] : routes_) {
    if (k == *kind) return handler;
  }
  return nullptr;
}

absl::Status CoordinatorServer::Serve(Coordinator* coordinator,
                                      BackgroundEvaluator* evaluations) {
  coordinator->OnTick(clock_->Now());
  while (!coordinator->done() && !stop_.load()) {
    const absl::Time now = clock_->Now();
    zmq::pollitem_t items[8] = {{router_.handle(), 0, ZMQ_POLLIN, 0}};
    size_t count = 1;
    int monitor_item = -1;
    int evaluation_item = -1;
    for (LoopHook* hook : loop_hooks_) {
      if (hook->wake_fd() >= 0 && count < 5) items[count++] = {nullptr, hook->wake_fd(), ZMQ_POLLIN, 0};
    }
    if (monitor_.has_value()) {
      monitor_item = static_cast<int>(count);
      items[count++] = {monitor_->events().handle(), 0, ZMQ_POLLIN, 0};
    }
    if (evaluations != nullptr) {
      evaluation_item = static_cast<int>(count);
      items[count++] = {nullptr, evaluations->wake_fd(), ZMQ_POLLIN, 0};
    }
    // Wake at least every 100 ms so Stop() is noticed promptly.
    absl::Duration wait =
        std::min(coordinator->NextDeadline(now) - now, absl::Milliseconds(100));
    FEDGE_ASSIGN_OR_RETURN(int ready, protocol::Poll(items, count, wait));
    if (monitor_item >= 0 && (items[monitor_item].revents & ZMQ_POLLIN)) DrainHandshakeEvents();
    if (evaluation_item >= 0 && (items[evaluation_item].revents & ZMQ_POLLIN)) {
      if (std::optional<BackgroundEvaluator::Result> r = evaluations->TakeResult()) {
        coordinator->OnServerEvaluation(r->round, std::move(r->metrics), clock_->Now());
      }
    }
    // Frames first, then timers: after a long step the heartbeats that
    // queued meanwhile must count before liveness is judged. Bounded so
    // timers still run under a flood.
    for (int i = 0; ready > 0 && i < 1024 && !coordinator->done(); ++i) {
      FEDGE_ASSIGN_OR_RETURN(std::optional<protocol::RoutedFrame> in,
                             protocol::ReceiveRouted(router_));
      if (!in.has_value()) break;
      FrameHandler* route = RouteOf(protocol::View(in->frame));
      if (route != nullptr) {
        route->OnFrame(Sender{std::move(in->peer), std::move(in->user_id)},
                       protocol::View(in->frame), clock_->Now());
        continue;
      }
      coordinator->OnFrame(Sender{std::move(in->peer), std::move(in->user_id)},
                           protocol::View(in->frame), clock_->Now());
      if (after_frame_) after_frame_(*coordinator);
    }
    if (!coordinator->done()) coordinator->OnTick(clock_->Now());
    for (LoopHook* hook : loop_hooks_) hook->OnLoop(*coordinator, clock_->Now());
  }
  // The final state (finished, or stopped) for whoever watches.
  for (LoopHook* hook : loop_hooks_) hook->OnLoop(*coordinator, clock_->Now());
  return stop_.load() ? absl::CancelledError("coordinator stopped") : absl::OkStatus();
}

}  // namespace fedge::coordinator
