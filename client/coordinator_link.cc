#include "client/coordinator_link.h"

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace fedge::client {

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
  cfg.routing_id = absl::StrCat("client-", client_id_);
  cfg.curve_client = options_.curve;
  FEDGE_RETURN_IF_ERROR(protocol::ConfigureSocket(socket_, cfg));
  FEDGE_ASSIGN_OR_RETURN(monitor_, protocol::HandshakeMonitor::Start(*ctx_, socket_));
  return protocol::Connect(socket_, options_.endpoint);
}

void CoordinatorLink::Close(absl::Duration linger) {
  monitor_.reset();  // before the socket it watches
  if (socket_.handle() == nullptr) return;
  socket_.set(zmq::sockopt::linger, static_cast<int>(absl::ToInt64Milliseconds(linger)));
  socket_.close();
}

bool CoordinatorLink::Send(const std::string& frame) {
  absl::Status s = protocol::SendFrame(socket_, protocol::ToMessage(frame));
  if (!s.ok()) {
    FEDGE_LOG(kDebug, "client %d: send failed: %s", client_id_, s.ToString());
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
