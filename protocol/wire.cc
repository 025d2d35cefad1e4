#include "protocol/wire.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace fedge::protocol {
namespace {
absl::Status ZmqError(absl::string_view what, const zmq::error_t& e) {
  return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
}

zmq::const_buffer Buffer(absl::string_view bytes) {
  return zmq::const_buffer(bytes.data(), bytes.size());
}

// Receives the rest of a multipart message whose last part so far had
// `more` set, keeping parts in `kept[*count..]` while there is room and
// dropping the others. The rest of a multipart message is already queued
// (ZeroMQ delivers messages whole), so this cannot block.
template <size_t N>
void ReceiveRest(zmq::socket_t& socket, bool more, std::array<zmq::message_t, N>& kept,
                 size_t* count) {
  while (more) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::none)) break;
    more = part.more();
    if (*count < N) kept[(*count)++] = std::move(part);
  }
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
    // Enough parts to tell [rid][frame] and [rid][channel][frame] from a
    // longer message; ReceiveRest drops the rest.
    std::array<zmq::message_t, 4> parts;
    // A message whose routing id cannot be encoded is dropped and the next
    // one read; each pass consumes a message, so this ends.
    for (;;) {
      if (!router.recv(parts[0], zmq::recv_flags::dontwait)) return std::nullopt;
      size_t count = 1;
      ReceiveRest(router, parts[0].more(), parts, &count);
      std::array<absl::string_view, 4> views;
      for (size_t i = 0; i < count; ++i) views[i] = View(parts[i]);
      absl::StatusOr<RoutedParts> parsed =
          ParseRoutedParts(absl::MakeConstSpan(views.data(), count));
      if (!parsed.ok()) {
        for (size_t i = 0; i < count; ++i) parts[i].rebuild();
        continue;
      }
      RoutedFrame out;
      out.peer = std::move(parsed->peer);
      // Metadata travels with each data part, not the routing id ROUTER
      // prepends; the first data part is the channel or the frame.
      if (count > 1) {
        if (const char* uid = zmq_msg_gets(parts[1].handle(), "User-Id")) out.user_id = uid;
      }
      if (parsed->well_formed) out.frame = std::move(parts[parsed->frame_part]);
      return std::optional<RoutedFrame>(std::move(out));
    }
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
  absl::StatusOr<PeerView> to = DecodePeerView(peer);
  if (!to.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot send to ", DescribePeer(peer), ": ", to.status().message()));
  }
  try {
    // Only the routing id part can be refused (queue full, or with
    // ROUTER_MANDATORY, EHOSTUNREACH): once the ROUTER has picked the pipe it
    // takes the rest of the message, or drops all of it if that pipe dies.
    constexpr zmq::send_flags kMore = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
    if (!router.send(Buffer(to->routing_id), kMore)) {
      return absl::UnavailableError("send queue to peer is full");
    }
    if (!to->channel.empty() && !router.send(Buffer(to->channel), kMore)) {
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

absl::Status SendOnChannel(zmq::socket_t& dealer, absl::string_view channel,
                           zmq::message_t frame) {
  if (absl::Status s = CheckChannel(channel); !s.ok()) return s;
  try {
    // If the channel part is refused nothing was queued.
    if (!dealer.send(Buffer(channel), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return absl::UnavailableError("send queue is full (coordinator unreachable?)");
    }
    // The channel part is in a pipe, whose high-water mark counts whole
    // messages, so the frame joins it. Only a pipe torn down in between
    // refuses the frame; libzmq then rolls the channel part back and reports
    // EAGAIN, so the coordinator never sees half a message.
    if (!dealer.send(frame, zmq::send_flags::dontwait)) {
      return absl::UnavailableError("connection lost mid-message; nothing was sent");
    }
  } catch (const zmq::error_t& e) {
    return ZmqError("send", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ChannelFrame>> ReceiveOnChannel(zmq::socket_t& dealer) {
  try {
    // Enough parts to tell [channel][frame] from a longer message.
    std::array<zmq::message_t, 3> parts;
    if (!dealer.recv(parts[0], zmq::recv_flags::dontwait)) return std::nullopt;
    size_t count = 1;
    ReceiveRest(dealer, parts[0].more(), parts, &count);
    ChannelFrame out;
    if (count == 2 && CheckChannel(View(parts[0])).ok()) {
      out.channel.assign(static_cast<const char*>(parts[0].data()), parts[0].size());
      out.frame = std::move(parts[1]);
    } else {
      out.well_formed = false;
      if (count == 1) out.frame = std::move(parts[0]);
    }
    return std::optional<ChannelFrame>(std::move(out));
  } catch (const zmq::error_t& e) {
    return ZmqError("receive", e);
  }
}

zmq::message_t TakeMessage(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  return zmq::message_t(
      owned->data(), owned->size(),
      [](void*, void* hint) { delete static_cast<std::string*>(hint); }, owned);
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
