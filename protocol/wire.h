#ifndef FEDGE_PROTOCOL_WIRE_H_
#define FEDGE_PROTOCOL_WIRE_H_

// ZeroMQ plumbing shared by the coordinator and clients. cppzmq throws
// zmq::error_t; these helpers are the one place that catches it and turns it
// into absl::Status.

#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "protocol/peer_address.h"
#include "secure/secret_bytes.h"
#include "secure/x25519.h"

namespace fedge::protocol {

// CURVE keys (CurveZMQ, RFC 26: X25519 key exchange, XSalsa20-Poly1305 boxes)
// for one socket, as raw 32-byte keys. libzmq keeps its own copy of the
// secret key for the socket's lifetime.
struct CurveServerKeys {
  secure::X25519PublicKey public_key{};
  secure::SecretBytes secret_key;
};
struct CurveClientKeys {
  secure::X25519PublicKey public_key{};
  secure::SecretBytes secret_key;
  secure::X25519PublicKey server_public_key{};  // the pinned coordinator key
};

// The ZAP domain fedge's CURVE servers authenticate in.
inline constexpr char kZapDomain[] = "fedge";

// Options every fedge socket gets: no linger on close, a receive size limit
// (ZMQ_MAXMSGSIZE, so libzmq drops oversized frames before allocating them),
// and bounded reconnect backoff.
struct SocketConfig {
  size_t max_frame_bytes = size_t{256} << 20;
  absl::Duration reconnect_interval = absl::Milliseconds(100);
  absl::Duration reconnect_interval_max = absl::Seconds(5);
  std::string routing_id;  // DEALER only; empty lets ZeroMQ choose.
  // Set at most one to encrypt and authenticate with CURVE; neither: plain
  // ZMTP (--insecure). A CURVE server authenticates every client through the
  // ZAP handler of its context (protocol/zap_authenticator.h) and, with
  // ZMQ_ZAP_ENFORCE_DOMAIN set, refuses every client when there is none.
  std::shared_ptr<const CurveServerKeys> curve_server;
  std::shared_ptr<const CurveClientKeys> curve_client;
};

absl::Status ConfigureSocket(zmq::socket_t& socket, const SocketConfig& config);

// Binds and returns the resolved endpoint ("tcp://127.0.0.1:41234" for ":*").
absl::StatusOr<std::string> Bind(zmq::socket_t& socket, const std::string& endpoint);
absl::Status Connect(zmq::socket_t& socket, const std::string& endpoint);

// The routed envelope and peer addresses: protocol/peer_address.h.

// Messages ZeroMQ queues per connection and direction before it drops
// (ROUTER) or refuses (DEALER) more: ZMQ_SNDHWM/RCVHWM, raised from 1,000
// for connections shared by a process's logical clients.
inline constexpr int kConnectionQueueMessages = 1 << 17;

// One received message on a ROUTER: the sender and the frame.
struct RoutedFrame {
  std::string peer;  // EncodePeer(routing id, channel); see above
  // Empty when the message was malformed (see ParseRoutedParts).
  zmq::message_t frame;
  // The connection's ZAP User-Id (for CURVE: the client's public key in hex,
  // as the ZAP handler authenticated it); empty on a plain connection. All
  // channels of a connection share it.
  std::string user_id;
};

// One received message on a DEALER that multiplexes channels.
struct ChannelFrame {
  std::string channel;
  zmq::message_t frame;
  // False unless the message was [channel, frame] with a valid channel. A
  // single-part message (a reply to the connection rather than a channel,
  // such as the coordinator refusing a malformed envelope) keeps its frame
  // here with `channel` empty; any other shape leaves both empty.
  bool well_formed = true;
};

// Non-blocking receives. nullopt when nothing is waiting. A ROUTER message
// that is neither [rid][frame] nor [rid][channel][frame] is returned with
// `frame` empty and the connection's plain peer so the caller can count and
// refuse it; one whose routing id cannot be encoded (over 255 bytes, which
// only a hand-written ZMTP peer can announce) is dropped. ReceiveFrame is for
// a DEALER without channels: a message of more than one part comes back
// empty. ReceiveOnChannel: see ChannelFrame.
absl::StatusOr<std::optional<RoutedFrame>> ReceiveRouted(zmq::socket_t& router);
absl::StatusOr<std::optional<zmq::message_t>> ReceiveFrame(zmq::socket_t& dealer);
absl::StatusOr<std::optional<ChannelFrame>> ReceiveOnChannel(zmq::socket_t& dealer);

// Non-blocking sends. Returns Unavailable when the peer's queue is full or the
// peer is gone (ROUTER_MANDATORY), rather than blocking the caller. A message
// is sent whole or not at all. SendRouted returns InvalidArgument for a peer
// that does not decode, SendOnChannel for an invalid channel (CheckChannel).
absl::Status SendRouted(zmq::socket_t& router, const std::string& peer, zmq::message_t frame);
absl::Status SendFrame(zmq::socket_t& dealer, zmq::message_t frame);
absl::Status SendOnChannel(zmq::socket_t& dealer, absl::string_view channel,
                           zmq::message_t frame);

inline zmq::message_t ToMessage(const std::string& bytes) {
  return zmq::message_t(bytes.data(), bytes.size());
}
// A message that owns `bytes` without copying them (ZeroMQ frees them once
// sent): for model-sized frames.
zmq::message_t TakeMessage(std::string bytes);
inline absl::string_view View(const zmq::message_t& m) {
  return absl::string_view(static_cast<const char*>(m.data()), m.size());
}

// Waits until one of `items` is ready or `timeout` passes; EINTR counts as a
// timeout so signal handlers can run.
absl::StatusOr<int> Poll(zmq::pollitem_t* items, size_t count, absl::Duration timeout);

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_WIRE_H_
