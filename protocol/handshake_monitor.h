#ifndef FEDGE_PROTOCOL_HANDSHAKE_MONITOR_H_
#define FEDGE_PROTOCOL_HANDSHAKE_MONITOR_H_

// Watches a socket's ZMTP handshakes through a ZeroMQ socket monitor, so a
// CURVE failure is reported instead of looking like silence: a device whose
// key is not enrolled, a device that pinned the wrong coordinator key, or a
// plain (--insecure) peer talking to a CURVE peer. libzmq does not retry a
// connection whose handshake failed (the owner reconnects with a new socket,
// as ClientHost does); the monitor only says why it failed.
//
// Owned and used by the thread that owns the monitored socket. Stop() (or
// the destructor) must run before the monitored socket is closed.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <zmq.hpp>

#include "absl/status/statusor.h"

namespace fedge::protocol {

struct HandshakeEvent {
  enum class Kind {
    kSucceeded,
    kRefusedByAuthenticator,  // ZAP said no (value: its status code, e.g. 400)
    kProtocolError,           // value: a ZMQ_PROTOCOL_ERROR_* code
    kFailed,                  // no detail (value: errno)
  };
  Kind kind = Kind::kFailed;
  int value = 0;
  std::string endpoint;

  bool failed() const { return kind != Kind::kSucceeded; }
  // One line for logs and errors, with the likely cause.
  std::string Describe() const;
};

class HandshakeMonitor {
 public:
  // Starts monitoring `socket` (which must outlive the monitor or be closed
  // after Stop()). Unavailable if libzmq refuses.
  static absl::StatusOr<HandshakeMonitor> Start(zmq::context_t& ctx, zmq::socket_t& socket);
  HandshakeMonitor(HandshakeMonitor&& other) noexcept
      : monitored_(std::exchange(other.monitored_, nullptr)), events_(std::move(other.events_)) {}
  HandshakeMonitor& operator=(HandshakeMonitor&& other);
  ~HandshakeMonitor() { Stop(); }

  // The socket to poll for ZMQ_POLLIN.
  zmq::socket_t& events() { return events_; }
  // The next handshake event, or nullopt when none is waiting. Never blocks.
  std::optional<HandshakeEvent> Next();
  void Stop();

 private:
  HandshakeMonitor(zmq::socket_t* monitored, zmq::socket_t events)
      : monitored_(monitored), events_(std::move(events)) {}
  zmq::socket_t* monitored_ = nullptr;
  zmq::socket_t events_;
};

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_HANDSHAKE_MONITOR_H_
