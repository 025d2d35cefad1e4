#include "client/coordinator_link.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/process_stats.h"
#include "base/status_macros.h"

namespace fedge::client {

void SizeContextForClients(zmq::context_t& ctx, size_t logical_clients) {
  // Three sockets per logical client (its DEALER, and the pair of sockets of
  // its handshake monitor), one more while a reconnect's old socket is
  // reaped, and a few of the host's own: libzmq's default of 1,023 stopped a
  // process near 340 clients ("Too many open files"). Each socket also holds
  // a descriptor (its mailbox), and each connection one, so the process's
  // descriptor limit is raised too. Never below libzmq's default: a
  // reconnect's closed socket is reaped asynchronously.
  const size_t sockets = std::clamp<size_t>(4 * logical_clients + 16, 1023, 65535);
  zmq_ctx_set(ctx.handle(), ZMQ_MAX_SOCKETS, static_cast<int>(sockets));
  const uint64_t want = std::max<uint64_t>(DescriptorsForClients(logical_clients), 2 * sockets + 64);
  const uint64_t fds = RaiseOpenFileLimit(want);
  if (fds < want) {
    FEDGE_LOG(kWarning, "%d logical clients may need %d open descriptors; the limit is %d "
              "(raise it with ulimit -n, or host fewer clients per process)", logical_clients,
              want, fds);
  }
}

absl::Status CoordinatorLink::Open() {
  Close(absl::ZeroDuration());
  try {
    socket_ = zmq::socket_t(*ctx_, zmq::socket_type::dealer);
  } catch (const zmq::error_t& e) {
    // EMFILE: the context's socket limit or the process's descriptors (a
    // closed socket is reaped asynchronously). An error, not an abort.
    return absl::ResourceExhaustedError(
        absl::StrCat("client ", client_id_, ": cannot open a socket: ", e.what()));
  }
  protocol::SocketConfig cfg;
  cfg.max_frame_bytes = options_.max_frame_bytes;
  cfg.reconnect_interval = options_.reconnect_interval;
  cfg.reconnect_interval_max = options_.reconnect_interval_max;
  cfg.routing_id = options_.routing_id.empty() ? absl::StrCat("client-", client_id_)
                                               : options_.routing_id;
  cfg.curve_client = options_.curve;
  FEDGE_RETURN_IF_ERROR(protocol::ConfigureSocket(socket_, cfg));
  if (!options_.routing_id.empty()) {
    // A shared connection queues for all the process's clients (see the
    // coordinator's side, coordinator_server.cc).
    socket_.set(zmq::sockopt::sndhwm, protocol::kConnectionQueueMessages);
    socket_.set(zmq::sockopt::rcvhwm, protocol::kConnectionQueueMessages);
  }
  FEDGE_ASSIGN_OR_RETURN(monitor_, protocol::HandshakeMonitor::Start(*ctx_, socket_));
  return protocol::Connect(socket_, options_.endpoint);
}

void CoordinatorLink::Close(absl::Duration linger) {
  monitor_.reset();  // before the socket it watches
  if (socket_.handle() == nullptr) return;
  socket_.set(zmq::sockopt::linger, static_cast<int>(absl::ToInt64Milliseconds(linger)));
  socket_.close();
}

bool CoordinatorLink::Send(std::string frame) {
  absl::Status s = protocol::SendFrame(socket_, protocol::TakeMessage(std::move(frame)));
  if (!s.ok()) {
    FEDGE_LOG(kDebug, "client %d: send failed: %s", client_id_, s.ToString());
    return false;
  }
  return true;
}

bool CoordinatorLink::SendOn(const std::string& channel, std::string frame) {
  absl::Status s =
      protocol::SendOnChannel(socket_, channel, protocol::TakeMessage(std::move(frame)));
  if (!s.ok()) {
    FEDGE_LOG(kDebug, "client %s: send failed: %s", channel, s.ToString());
    return false;
  }
  return true;
}

int CoordinatorLink::ReadHandshakeEvents(absl::Time now) {
  int failures = 0;
  while (std::optional<protocol::HandshakeEvent> e = monitor_->Next()) {
    if (!e->failed()) {
      if (!handshake_error_.empty()) FEDGE_LOG(kInfo, "client %d: %s", client_id_, e->Describe());
      handshake_error_.clear();
      continue;
    }
    ++failures;
    std::string why = e->Describe();
    if (why != handshake_error_ || now - handshake_logged_ >= absl::Seconds(10)) {
      FEDGE_LOG(kWarning, "client %d: %s", client_id_, why);
      handshake_logged_ = now;
    }
    handshake_error_ = std::move(why);
  }
  return failures;
}

}  // namespace fedge::client
