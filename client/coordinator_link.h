#ifndef FEDGE_CLIENT_COORDINATOR_LINK_H_
#define FEDGE_CLIENT_COORDINATOR_LINK_H_

// One logical client's connection to the coordinator: a DEALER socket (a
// CURVE client pinned to the coordinator's key when configured) and the
// monitor that watches its handshakes. libzmq does not retry a failed CURVE
// handshake, so reconnecting means Open() again: a new socket and monitor.
// Handshake failures are kept (for the error a client gives up with) and
// logged at most every 10 s unless the reason changes. Not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "protocol/handshake_monitor.h"
#include "protocol/wire.h"

namespace fedge::client {

// Open descriptors a process hosting `logical_clients` may need: each has a
// DEALER and a handshake monitor's pair of sockets (a mailbox descriptor
// each) and a connection, with room for a reconnect's old socket.
inline uint64_t DescriptorsForClients(size_t logical_clients) {
  return 8 * static_cast<uint64_t>(logical_clients) + 96;
}

// The most logical clients DescriptorsForClients fits in `descriptors`.
inline uint64_t ClientsForDescriptors(uint64_t descriptors) {
  return descriptors > 96 ? (descriptors - 96) / 8 : 0;
}

// Sizes the libzmq context that `logical_clients` links share (its socket
// limit) and raises the process's descriptor limit to match; logs a warning
// when the limit cannot be raised far enough.
void SizeContextForClients(zmq::context_t& ctx, size_t logical_clients);

class CoordinatorLink {
 public:
  struct Options {
    std::string endpoint;
    size_t max_frame_bytes = size_t{256} << 20;
    absl::Duration reconnect_interval = absl::Milliseconds(100);
    absl::Duration reconnect_interval_max = absl::Seconds(5);
    std::shared_ptr<const protocol::CurveClientKeys> curve;  // null: plain TCP
    // The socket's routing id; empty: "client-<client_id>".
    std::string routing_id;
  };

  // `ctx` must outlive the link.
  CoordinatorLink(zmq::context_t* ctx, Options options, uint64_t client_id)
      : ctx_(ctx), options_(std::move(options)), client_id_(client_id) {}

  // (Re)creates the socket and its monitor and connects.
  absl::Status Open();
  // Closes both, giving queued frames up to `linger` to leave.
  void Close(absl::Duration linger);
  bool open() const { return socket_.handle() != nullptr; }

  // Queues `frame`, handing its bytes to ZeroMQ; false (logged at debug) if
  // it could not be.
  bool Send(std::string frame);
  // The same on a channel of a shared connection (protocol/wire.h).
  bool SendOn(const std::string& channel, std::string frame);
  zmq::socket_t& socket() { return socket_; }
  // The monitor's event socket, to poll beside socket().
  zmq::socket_t& handshake_events() { return monitor_->events(); }

  // Reads pending handshake events; returns how many were failures.
  int ReadHandshakeEvents(absl::Time now);
  // Why the last handshake failed; empty after a success.
  const std::string& handshake_error() const { return handshake_error_; }

 private:
  zmq::context_t* const ctx_;
  const Options options_;
  const uint64_t client_id_;
  zmq::socket_t socket_;
  std::optional<protocol::HandshakeMonitor> monitor_;  // closed before socket_
  std::string handshake_error_;
  absl::Time handshake_logged_ = absl::InfinitePast();
};

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_COORDINATOR_LINK_H_
