#include "protocol/handshake_monitor.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fedge::protocol {
namespace {

constexpr int kEvents = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;

std::string ProtocolErrorCause(int code) {
  switch (code) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "security mechanism mismatch: one side uses CURVE and the other plain TCP "
             "(--insecure on one side only?)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "CURVE cryptographic failure: wrong pinned coordinator key (--coordinator_pub) "
             "or a tampered handshake";
    case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
      return "CURVE key exchange failed";
    default:
      return absl::StrFormat("ZMTP protocol error 0x%08x", static_cast<unsigned>(code));
  }
}

}  // namespace

std::string HandshakeEvent::Describe() const {
  switch (kind) {
    case Kind::kSucceeded:
      return absl::StrCat("handshake with ", endpoint, " succeeded");
    case Kind::kRefusedByAuthenticator:
      return absl::StrCat("handshake with ", endpoint, " refused by the authenticator (ZAP ",
                          value,
                          "): this device's key is not in the coordinator's allow-list");
    case Kind::kProtocolError:
      return absl::StrCat("handshake with ", endpoint, " failed: ", ProtocolErrorCause(value));
    case Kind::kFailed:
      if (value == EPIPE || value == ECONNRESET) {
        return absl::StrCat("handshake with ", endpoint, " failed: the peer hung up (",
                            std::strerror(value),
                            "): CURVE on one side and plain TCP on the other (--insecure on one "
                            "side only?), or a wrong pinned coordinator key");
      }
      return absl::StrCat("handshake with ", endpoint, " failed: ", std::strerror(value));
  }
  return "handshake event";
}

absl::StatusOr<HandshakeMonitor> HandshakeMonitor::Start(zmq::context_t& ctx,
                                                         zmq::socket_t& socket) {
  static std::atomic<uint64_t> next_id{0};
  const std::string endpoint = absl::StrCat("inproc://fedge-handshake-monitor-", next_id++);
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), kEvents) != 0) {
    return absl::UnavailableError(
        absl::StrCat("zmq_socket_monitor: ", zmq_strerror(zmq_errno())));
  }
  try {
    zmq::socket_t events(ctx, zmq::socket_type::pair);
    events.set(zmq::sockopt::linger, 0);
    events.connect(endpoint);
    return HandshakeMonitor(&socket, std::move(events));
  } catch (const zmq::error_t& e) {
    zmq_socket_monitor(socket.handle(), nullptr, 0);
    return absl::UnavailableError(absl::StrCat("handshake monitor: ", e.what()));
  }
}

HandshakeMonitor& HandshakeMonitor::operator=(HandshakeMonitor&& other) {
  if (this != &other) {
    Stop();
    monitored_ = std::exchange(other.monitored_, nullptr);
    events_ = std::move(other.events_);
  }
  return *this;
}

std::optional<HandshakeEvent> HandshakeMonitor::Next() {
  if (events_.handle() == nullptr) return std::nullopt;
  while (true) {
    zmq::message_t header;
    try {
      if (!events_.recv(header, zmq::recv_flags::dontwait)) return std::nullopt;
      // A monitor event is two frames: [u16 event, u32 value] and the endpoint.
      zmq::message_t address;
      if (!events_.get(zmq::sockopt::rcvmore) ||
          !events_.recv(address, zmq::recv_flags::none)) {
        continue;
      }
      if (header.size() < 6) continue;
      uint16_t event;
      uint32_t value;
      std::memcpy(&event, header.data(), 2);
      std::memcpy(&value, static_cast<const char*>(header.data()) + 2, 4);
      HandshakeEvent e;
      e.value = static_cast<int>(value);
      e.endpoint = address.to_string();
      switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: e.kind = HandshakeEvent::Kind::kSucceeded; break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
          e.kind = HandshakeEvent::Kind::kRefusedByAuthenticator;
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
          e.kind = HandshakeEvent::Kind::kProtocolError;
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: e.kind = HandshakeEvent::Kind::kFailed; break;
        default: continue;  // e.g. MONITOR_STOPPED
      }
      return e;
    } catch (const zmq::error_t&) {
      return std::nullopt;
    }
  }
}

void HandshakeMonitor::Stop() {
  if (monitored_ != nullptr && monitored_->handle() != nullptr) {
    zmq_socket_monitor(monitored_->handle(), nullptr, 0);
  }
  monitored_ = nullptr;
  if (events_.handle() != nullptr) events_.close();
}

}  // namespace fedge::protocol
