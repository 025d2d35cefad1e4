#ifndef FEDGE_PROTOCOL_CODEC_H_
#define FEDGE_PROTOCOL_CODEC_H_

// Encoding and decoding of whole frames (envelope + body). Bodies are cereal
// portable-binary archives (little-endian). Decoding never trusts a length
// read from the wire: every string and vector length is checked against the
// bytes that remain in the frame and against DecodeLimits before anything is
// allocated, and trailing bytes are an error.

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protocol/messages.h"

namespace fedge::protocol {

struct DecodeLimits {
  size_t max_frame_bytes = size_t{256} << 20;  // also the ZMQ_MAXMSGSIZE we set
  size_t max_tensors = 4096;
  size_t max_name_bytes = 1024;
  size_t max_rank = 8;
  size_t max_list_items = 1024;
  // Secure aggregation: the most clients (indices, keys, shares) one message may list.
  size_t max_secagg_clients = 65535;
};

// Encodes `message` into a frame.
std::string Encode(const Message& message);
template <typename T>
std::string Encode(const T& message) {
  return Encode(Message(message));
}

// Decodes a frame. Errors as ParseEnvelope, plus InvalidArgument with the field
// that was malformed ("Update.delta: declares 9000000 floats, 12 bytes remain").
absl::StatusOr<Message> Decode(absl::string_view frame, const DecodeLimits& limits = {});

// Same, but reuses the storage already in `*out` when the frame holds the
// same kind (so a coordinator can receive model-sized updates into one buffer).
// On error `*out` holds unspecified but valid contents.
absl::Status DecodeInto(absl::string_view frame, const DecodeLimits& limits, Message* out);

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_CODEC_H_
