#include "coordinator/coordinator_server.h"

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "protocol/wire.h"

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

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Create(
    const std::string& endpoint, size_t max_frame_bytes, Clock* clock) {
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  protocol::SocketConfig cfg;
  cfg.max_frame_bytes = max_frame_bytes;
  FEDGE_RETURN_IF_ERROR(protocol::ConfigureSocket(router, cfg));
  FEDGE_ASSIGN_OR_RETURN(std::string bound, protocol::Bind(router, endpoint));
  return std::unique_ptr<CoordinatorServer>(
      new CoordinatorServer(std::move(ctx), std::move(router), std::move(bound), clock));
}

CoordinatorServer::CoordinatorServer(zmq::context_t ctx, zmq::socket_t router,
                                     std::string endpoint, Clock* clock)
    : ctx_(std::move(ctx)), router_(std::move(router)), endpoint_(std::move(endpoint)),
      clock_(clock), outbox_(std::make_unique<RouterOutbox>(&router_)) {}

CoordinatorServer::~CoordinatorServer() {
  // Give queued Shutdown messages a moment to leave; linger is 0 otherwise.
  router_.set(zmq::sockopt::linger, 2000);
  router_.close();
}

Outbox* CoordinatorServer::outbox() { return outbox_.get(); }

absl::Status CoordinatorServer::Serve(Coordinator* coordinator) {
  coordinator->OnTick(clock_->Now());
  while (!coordinator->done() && !stop_.load()) {
    const absl::Time now = clock_->Now();
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    // Wake at least every 100 ms so Stop() is noticed promptly.
    absl::Duration wait =
        std::min(coordinator->NextDeadline(now) - now, absl::Milliseconds(100));
    FEDGE_ASSIGN_OR_RETURN(int ready, protocol::Poll(&item, 1, wait));
    // Frames first, then timers: after a long step (evaluating the model) the
    // heartbeats that queued meanwhile must count before liveness is judged.
    // Bounded so timers still run under a flood.
    for (int i = 0; ready > 0 && i < 1024 && !coordinator->done(); ++i) {
      FEDGE_ASSIGN_OR_RETURN(std::optional<protocol::RoutedFrame> in,
                             protocol::ReceiveRouted(router_));
      if (!in.has_value()) break;
      coordinator->OnFrame(in->peer, protocol::View(in->frame), clock_->Now());
    }
    if (!coordinator->done()) coordinator->OnTick(clock_->Now());
  }
  return stop_.load() ? absl::CancelledError("coordinator stopped") : absl::OkStatus();
}

}  // namespace fedge::coordinator
