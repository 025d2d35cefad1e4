#ifndef FEDGE_PROTOCOL_ENVELOPE_H_
#define FEDGE_PROTOCOL_ENVELOPE_H_

// Every frame starts with a fixed 16-byte little-endian envelope:
//   bytes 0-3   magic "FEDG"
//   bytes 4-5   protocol version (kProtocolVersion)
//   bytes 6-7   message kind (MessageKind)
//   bytes 8-11  body length in bytes (must equal frame size - 16)
//   bytes 12-15 reserved, zero
// so a receiver can reject foreign, future or truncated frames before it looks
// at the body.

#include <cstddef>
#include <cstdint>
#include <optional>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "protocol/messages.h"

namespace fedge::protocol {

inline constexpr size_t kEnvelopeSize = 16;
// 2: manifest tensors carry a role (parameter, buffer, counter).
// 3: models carry their task (input shape, target, loss), signed with them.
// 4: tasks carry the differential-privacy setting.
// 5: tasks carry the update compression; updates may carry a compressed delta.
// 6: models may carry a prune mask (signed with them).
// 7: tasks may name their model by reference (shared connections).
// 8: gateway inference (PredictRequest, PredictReply; NO_MODEL, BUSY).
// 9: Hellos carry their registration, so a re-sent one is recognised.
inline constexpr uint16_t kProtocolVersion = 9;
inline constexpr char kMagic[4] = {'F', 'E', 'D', 'G'};

struct Envelope {
  uint16_t version = kProtocolVersion;
  MessageKind kind = MessageKind::kHello;
  uint32_t body_length = 0;
};

// Writes the envelope for a body of `body_length` bytes into out[0..16).
void WriteEnvelope(MessageKind kind, uint32_t body_length, char* out);

// Parses and checks the envelope of a whole frame. Errors:
//   InvalidArgument    shorter than an envelope, bad magic, length mismatch,
//                      non-zero reserved bytes;
//   FailedPrecondition another protocol version;
//   ResourceExhausted  frame larger than `max_frame_bytes`;
//   Unimplemented      unknown message kind.
absl::StatusOr<Envelope> ParseEnvelope(absl::string_view frame, size_t max_frame_bytes);

// The kind a frame declares, looked at without any other check (routing by
// kind before the receiver decodes it in full); nullopt when the frame is
// too short, foreign or of no known kind.
std::optional<MessageKind> PeekKind(absl::string_view frame);

// The wire error code that reports a decode failure with this status.
ErrorCode ErrorCodeForDecodeFailure(const absl::Status& status);

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_ENVELOPE_H_
