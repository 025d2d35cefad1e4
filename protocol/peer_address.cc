#include "protocol/peer_address.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace fedge::protocol {

absl::StatusOr<PeerView> DecodePeerView(absl::string_view peer) {
  if (peer.empty()) return absl::InvalidArgumentError("peer address is empty");
  const size_t rid_size = static_cast<uint8_t>(peer[0]);
  if (rid_size == 0) {
    return absl::InvalidArgumentError("peer address has a zero-length routing id");
  }
  if (rid_size > peer.size() - 1) {
    return absl::InvalidArgumentError(absl::StrCat("peer address declares a ", rid_size,
                                                   "-byte routing id but holds only ",
                                                   peer.size() - 1, " bytes after its length"));
  }
  PeerView v{peer.substr(1, rid_size), peer.substr(1 + rid_size)};
  if (v.channel.size() > kMaxChannelBytes) {
    return absl::InvalidArgumentError(absl::StrCat("peer address has a ", v.channel.size(),
                                                   "-byte channel; at most ", kMaxChannelBytes));
  }
  return v;
}

std::string EncodePeer(absl::string_view routing_id, absl::string_view channel) {
  if (routing_id.empty() || routing_id.size() > kMaxRoutingIdBytes) return std::string();
  std::string peer;
  peer.reserve(1 + routing_id.size() + channel.size());
  peer += static_cast<char>(static_cast<uint8_t>(routing_id.size()));
  peer.append(routing_id.data(), routing_id.size());
  peer.append(channel.data(), channel.size());
  return peer;
}

absl::StatusOr<PeerAddress> DecodePeer(absl::string_view peer) {
  absl::StatusOr<PeerView> v = DecodePeerView(peer);
  if (!v.ok()) return v.status();
  return PeerAddress{std::string(v->routing_id), std::string(v->channel)};
}

std::string DescribePeer(absl::string_view peer) {
  absl::StatusOr<PeerView> v = DecodePeerView(peer);
  if (!v.ok()) return absl::CHexEscape(peer);
  if (v->channel.empty()) return absl::CHexEscape(v->routing_id);
  return absl::StrCat(absl::CHexEscape(v->routing_id), "#", absl::CHexEscape(v->channel));
}

absl::Status CheckChannel(absl::string_view channel) {
  if (channel.empty()) return absl::InvalidArgumentError("channel is empty");
  if (channel.size() > kMaxChannelBytes) {
    return absl::InvalidArgumentError(absl::StrCat("channel has ", channel.size(),
                                                   " bytes; at most ", kMaxChannelBytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<RoutedParts> ParseRoutedParts(absl::Span<const absl::string_view> parts) {
  if (parts.empty()) return absl::InvalidArgumentError("routed message has no parts");
  const absl::string_view rid = parts[0];
  if (rid.empty() || rid.size() > kMaxRoutingIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("routing id has ", rid.size(), " bytes; want 1 to ", kMaxRoutingIdBytes));
  }
  RoutedParts out;
  if (parts.size() == 2) {
    out.peer = EncodePeer(rid, "");
    out.well_formed = true;
    out.frame_part = 1;
  } else if (parts.size() == 3 && CheckChannel(parts[1]).ok()) {
    out.peer = EncodePeer(rid, parts[1]);
    out.well_formed = true;
    out.frame_part = 2;
  } else {
    // No frame, more parts, or a bad channel: answer the connection itself.
    out.peer = EncodePeer(rid, "");
  }
  return out;
}

}  // namespace fedge::protocol
