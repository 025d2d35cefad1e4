#ifndef FEDGE_PROTOCOL_PEER_ADDRESS_H_
#define FEDGE_PROTOCOL_PEER_ADDRESS_H_

// How the coordinator names its peers, without ZeroMQ: the sans-I/O
// coordinator includes this, only the socket runners include wire.h.

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fedge::protocol {

// ---- The routed envelope -----------------------------------------------------
//
// One DEALER connection carries one logical client or several. A DEALER sends
// either
//   [frame]            the connection is the logical client, or
//   [channel, frame]   the connection multiplexes logical clients and
//                      `channel` (opaque bytes, 1..kMaxChannelBytes; fedge
//                      uses the client id in decimal) says which one speaks.
// The ROUTER prepends the connection's routing id, so the coordinator reads
// [rid, frame] or [rid, channel, frame], and answers in the same shape; the
// ROUTER strips the rid again and the DEALER reads [frame] or
// [channel, frame]. Every other shape is malformed.
//
// The coordinator names a sender by one opaque "peer" string, and each
// (rid, channel) pair is a distinct peer. The string is length-prefixed,
// EncodePeer(rid, channel) = [rid.size() as one byte][rid][channel], not
// rid + channel: a client chooses its own routing id (ZMQ_ROUTING_ID), so with
// a plain concatenation the connection "dev" speaking on channel "17" would be
// the same peer as the connection "dev1" on channel "7": one device could
// speak, and be answered, as a logical client of another connection.

inline constexpr size_t kMaxChannelBytes = 32;
// libzmq limits the routing ids its sockets set to 255 bytes; the peer's
// length byte holds one.
inline constexpr size_t kMaxRoutingIdBytes = 255;

struct PeerAddress {
  std::string routing_id;  // 1..kMaxRoutingIdBytes bytes
  std::string channel;     // empty: the connection itself, no channel
};

// REQUIRES: 1 <= routing_id.size() <= kMaxRoutingIdBytes and
// channel.size() <= kMaxChannelBytes. Arguments out of range give a peer
// that DecodePeer refuses (an empty string for a bad routing id), never one
// that names another address.
std::string EncodePeer(absl::string_view routing_id, absl::string_view channel);
// InvalidArgument for an empty peer, a zero length byte, a length past the
// end, or a channel longer than kMaxChannelBytes.
absl::StatusOr<PeerAddress> DecodePeer(absl::string_view peer);
// For logs: the escaped routing id, then "#" and the escaped channel when
// there is one; a peer that does not decode is shown escaped as a whole.
std::string DescribePeer(absl::string_view peer);

// InvalidArgument unless 1 <= channel.size() <= kMaxChannelBytes.
absl::Status CheckChannel(absl::string_view channel);

// What the parts of one ROUTER message mean: the pure core of ReceiveRouted.
struct RoutedParts {
  // EncodePeer(rid, channel) for a well-formed message; for a malformed one
  // the connection's plain peer EncodePeer(rid, ""), so it can be refused.
  std::string peer;
  bool well_formed = false;
  size_t frame_part = 0;  // index of the frame in `parts`; 0 when malformed
};
// `parts` is the whole message, routing id first. InvalidArgument when there
// is no part or the routing id is not 1..kMaxRoutingIdBytes bytes: such a
// message cannot be answered. (libzmq's sockets cannot set a longer routing
// id, but libzmq accepts one announced by a hand-written ZMTP peer.)
absl::StatusOr<RoutedParts> ParseRoutedParts(absl::Span<const absl::string_view> parts);

// DecodePeer without copies: views into `peer`.
struct PeerView {
  absl::string_view routing_id;
  absl::string_view channel;
};
absl::StatusOr<PeerView> DecodePeerView(absl::string_view peer);

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_PEER_ADDRESS_H_
