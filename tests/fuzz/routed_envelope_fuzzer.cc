// Fuzz target: the routed envelope (protocol/wire.h) on arbitrary bytes must
// give a Status, never crash; a peer names exactly one (routing id, channel).
//
// Each input is tried:
//   1. as a peer string: whatever DecodePeer accepts is in range and encodes
//      back to the same bytes, and DescribePeer shows anything;
//   2. as the parts of a ROUTER message, [rid, ...], cut into 0 to 5 parts
//      in turn: a length byte before each part but the last (the rid's may
//      reach 256, a channel's 0 to kMaxChannelBytes + 7, so both limits are
//      crossed often); the last part takes the rest.
//      ParseRoutedParts must refuse exactly the unaddressable messages,
//      classify the others as the envelope says, name the sender's own
//      connection, and the reply it implies, parsed again, name the same peer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocol/wire.h"

namespace {

using fedge::protocol::DecodePeer;
using fedge::protocol::DescribePeer;
using fedge::protocol::EncodePeer;
using fedge::protocol::kMaxChannelBytes;
using fedge::protocol::kMaxRoutingIdBytes;
using fedge::protocol::ParseRoutedParts;
using fedge::protocol::PeerAddress;
using fedge::protocol::RoutedParts;

void Check(bool ok) {
  if (!ok) std::abort();
}

void AsPeer(absl::string_view peer) {
  (void)DescribePeer(peer);
  absl::StatusOr<PeerAddress> a = DecodePeer(peer);
  if (!a.ok()) return;
  Check(!a->routing_id.empty() && a->routing_id.size() <= kMaxRoutingIdBytes);
  Check(a->channel.size() <= kMaxChannelBytes);
  Check(EncodePeer(a->routing_id, a->channel) == peer);
}

// Cuts `in` into `count` parts, a length byte before each but the last, which
// takes the rest; lengths past the end are cut short.
std::vector<absl::string_view> Split(absl::string_view in, size_t count) {
  std::vector<absl::string_view> parts;
  for (size_t i = 0; i < count; ++i) {
    size_t length = in.size();
    if (i + 1 < count && !in.empty()) {
      const uint8_t b = static_cast<uint8_t>(in[0]);
      in.remove_prefix(1);
      // A routing id of 0-254 bytes, or 255 or 256 for the top two values;
      // a channel of 0 to kMaxChannelBytes + 7.
      length = i == 0 ? (b < 0xfe ? b : b - 0xfe + 255) : b % (kMaxChannelBytes + 8);
    }
    length = std::min(length, in.size());
    parts.push_back(in.substr(0, length));
    in.remove_prefix(length);
  }
  return parts;
}

void AsRoutedParts(const std::vector<absl::string_view>& parts) {
  absl::StatusOr<RoutedParts> r = ParseRoutedParts(parts);
  const bool addressable = !parts.empty() && !parts[0].empty() &&
                           parts[0].size() <= kMaxRoutingIdBytes;
  Check(r.ok() == addressable);
  if (!r.ok()) return;
  AsPeer(r->peer);
  absl::StatusOr<PeerAddress> from = DecodePeer(r->peer);
  Check(from.ok());
  Check(from->routing_id == parts[0]);  // never another connection
  const bool channel_ok = parts.size() == 3 && !parts[1].empty() &&
                          parts[1].size() <= kMaxChannelBytes;
  Check(r->well_formed == (parts.size() == 2 || channel_ok));
  if (!r->well_formed) {
    Check(from->channel.empty() && r->frame_part == 0);
  } else {
    Check(r->frame_part == parts.size() - 1);
    Check(from->channel == (parts.size() == 3 ? parts[1] : absl::string_view()));
  }
  // The reply SendRouted would send, [rid, (channel,) frame], read back by a
  // ROUTER, is from the same peer.
  std::vector<absl::string_view> reply = {from->routing_id};
  if (!from->channel.empty()) reply.push_back(from->channel);
  reply.push_back(r->well_formed ? parts[r->frame_part] : absl::string_view());
  absl::StatusOr<RoutedParts> again = ParseRoutedParts(reply);
  Check(again.ok() && again->well_formed && again->peer == r->peer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  AsPeer(input);
  for (size_t count = 0; count <= 5; ++count) AsRoutedParts(Split(input, count));
  return 0;
}
