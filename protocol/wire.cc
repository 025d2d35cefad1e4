#include "protocol/wire.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace fedge::protocol {
namespace {
absl::Status ZmqError(absl::string_view what, const zmq::error_t& e) {
  return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
}
}  // namespace

absl::Status ConfigureSocket(zmq::socket_t& socket, const SocketConfig& config) {
  try {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(config.max_frame_bytes));
    socket.set(zmq::sockopt::reconnect_ivl,
               static_cast<int>(absl::ToInt64Milliseconds(config.reconnect_interval)));
    socket.set(zmq::sockopt::reconnect_ivl_max,
               static_cast<int>(absl::ToInt64Milliseconds(config.reconnect_interval_max)));
    if (!config.routing_id.empty()) socket.set(zmq::sockopt::routing_id, config.routing_id);
    if (config.curve_server && config.curve_client) {
      return absl::InvalidArgumentError("a socket is a CURVE server or a CURVE client, not both");
    }
    if (const CurveServerKeys* k = config.curve_server.get()) {
      if (k->secret_key.size() != secure::kX25519KeySize) {
        return absl::InvalidArgumentError("CURVE server secret key must be 32 bytes");
      }
      socket.set(zmq::sockopt::curve_server, 1);
      socket.set(zmq::sockopt::curve_secretkey,
                 zmq::const_buffer(k->secret_key.data(), k->secret_key.size()));
      socket.set(zmq::sockopt::zap_domain, kZapDomain);
      // Fail closed: without a ZAP handler, refuse clients rather than accept
      // them all. A draft option in libzmq 4.3; an older library refuses it.
      constexpr int kZapEnforceDomain = 93;  // ZMQ_ZAP_ENFORCE_DOMAIN
      const int enforce = 1;
      if (zmq_setsockopt(socket.handle(), kZapEnforceDomain, &enforce, sizeof(enforce)) != 0) {
        return absl::FailedPreconditionError(
            "this libzmq cannot enforce ZAP authentication (ZMQ_ZAP_ENFORCE_DOMAIN)");
      }
    }
    if (const CurveClientKeys* k = config.curve_client.get()) {
      if (k->secret_key.size() != secure::kX25519KeySize) {
        return absl::InvalidArgumentError("CURVE client secret key must be 32 bytes");
      }
      socket.set(zmq::sockopt::curve_serverkey,
                 zmq::const_buffer(k->server_public_key.data(), k->server_public_key.size()));
      socket.set(zmq::sockopt::curve_publickey,
                 zmq::const_buffer(k->public_key.data(), k->public_key.size()));
      socket.set(zmq::sockopt::curve_secretkey,
                 zmq::const_buffer(k->secret_key.data(), k->secret_key.size()));
    }
    if (socket.get(zmq::sockopt::type) == ZMQ_ROUTER) {
      socket.set(zmq::sockopt::router_mandatory, 1);
      // A reconnecting client reuses its routing id; take over the old pipe.
      socket.set(zmq::sockopt::router_handover, 1);
    }
  } catch (const zmq::error_t& e) {
    return ZmqError("configuring socket", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Bind(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.bind(endpoint);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(absl::StrCat("cannot bind ", endpoint, ": ", e.what()));
  }
}

absl::Status Connect(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot connect to ", endpoint, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<RoutedFrame>> ReceiveRouted(zmq::socket_t& router) {
  try {
    zmq::message_t id;
    if (!router.recv(id, zmq::recv_flags::dontwait)) return std::nullopt;
    RoutedFrame out;
    out.peer.assign(static_cast<const char*>(id.data()), id.size());
    bool first = true;
    bool well_formed = true;
    while (router.get(zmq::sockopt::rcvmore)) {
      zmq::message_t part;
      // The rest of a multipart message is already queued; this cannot block.
      if (!router.recv(part, zmq::recv_flags::none)) break;
      if (first) {
        // Metadata travels with each data frame, not the routing id ROUTER
        // prepends.
        if (const char* uid = zmq_msg_gets(part.handle(), "User-Id")) out.user_id = uid;
        out.frame = std::move(part);
        first = false;
      } else {
        well_formed = false;
      }
    }
    if (first || !well_formed) out.frame = zmq::message_t();
    return std::optional<RoutedFrame>(std::move(out));
  } catch (const zmq::error_t& e) {
    return ZmqError("receive", e);
  }
}

absl::StatusOr<std::optional<zmq::message_t>> ReceiveFrame(zmq::socket_t& dealer) {
  try {
    zmq::message_t m;
    if (!dealer.recv(m, zmq::recv_flags::dontwait)) return std::nullopt;
    // Drop any extra parts; fedge messages are single-frame.
    bool extra = false;
    while (dealer.get(zmq::sockopt::rcvmore)) {
      zmq::message_t part;
      if (!dealer.recv(part, zmq::recv_flags::none)) break;
      extra = true;
    }
    if (extra) m = zmq::message_t();
    return std::optional<zmq::message_t>(std::move(m));
  } catch (const zmq::error_t& e) {
    return ZmqError("receive", e);
  }
}

absl::Status SendRouted(zmq::socket_t& router, const std::string& peer, zmq::message_t frame) {
  try {
    if (!router.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return absl::UnavailableError("send queue to peer is full");
    }
    if (!router.send(frame, zmq::send_flags::dontwait)) {
      return absl::UnavailableError("send queue to peer is full");
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return absl::UnavailableError("peer is not connected");
    return ZmqError("send", e);
  }
  return absl::OkStatus();
}

absl::Status SendFrame(zmq::socket_t& dealer, zmq::message_t frame) {
  try {
    if (!dealer.send(frame, zmq::send_flags::dontwait)) {
      return absl::UnavailableError("send queue is full (coordinator unreachable?)");
    }
  } catch (const zmq::error_t& e) {
    return ZmqError("send", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Poll(zmq::pollitem_t* items, size_t count, absl::Duration timeout) {
  long ms = static_cast<long>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
  if (timeout > absl::ZeroDuration() && ms == 0) ms = 1;
  int rc = zmq_poll(items, static_cast<int>(count), ms);
  if (rc < 0) {
    if (zmq_errno() == EINTR) return 0;
    return absl::UnavailableError(absl::StrCat("zmq_poll: ", zmq_strerror(zmq_errno())));
  }
  return rc;
}

}  // namespace fedge::protocol
