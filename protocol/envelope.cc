#include "protocol/envelope.h"

#include <cstring>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"

namespace fedge::protocol {

void WriteEnvelope(MessageKind kind, uint32_t body_length, char* out) {
  std::memcpy(out, kMagic, 4);
  absl::little_endian::Store16(out + 4, kProtocolVersion);
  absl::little_endian::Store16(out + 6, static_cast<uint16_t>(kind));
  absl::little_endian::Store32(out + 8, body_length);
  absl::little_endian::Store32(out + 12, 0);
}

absl::StatusOr<Envelope> ParseEnvelope(absl::string_view frame, size_t max_frame_bytes) {
  if (frame.size() < kEnvelopeSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame of ", frame.size(), " bytes is shorter than the ", kEnvelopeSize,
        "-byte envelope"));
  }
  if (std::memcmp(frame.data(), kMagic, 4) != 0) {
    return absl::InvalidArgumentError("frame does not start with the FEDG magic");
  }
  if (frame.size() > max_frame_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "frame of ", frame.size(), " bytes exceeds the limit of ", max_frame_bytes));
  }
  Envelope env;
  env.version = absl::little_endian::Load16(frame.data() + 4);
  uint16_t kind = absl::little_endian::Load16(frame.data() + 6);
  env.body_length = absl::little_endian::Load32(frame.data() + 8);
  uint32_t reserved = absl::little_endian::Load32(frame.data() + 12);
  if (env.version != kProtocolVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "frame has protocol version ", env.version, ", this build speaks ",
        kProtocolVersion));
  }
  if (reserved != 0) {
    return absl::InvalidArgumentError("envelope reserved bytes are not zero");
  }
  if (env.body_length != frame.size() - kEnvelopeSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "envelope declares a ", env.body_length, "-byte body but the frame carries ",
        frame.size() - kEnvelopeSize));
  }
  if (kind == 0 || kind > kMaxMessageKind) {
    return absl::UnimplementedError(absl::StrCat("unknown message kind ", kind));
  }
  env.kind = static_cast<MessageKind>(kind);
  return env;
}

std::optional<MessageKind> PeekKind(absl::string_view frame) {
  if (frame.size() < kEnvelopeSize || frame.substr(0, 4) != absl::string_view(kMagic, 4)) {
    return std::nullopt;
  }
  const uint16_t kind = absl::little_endian::Load16(frame.data() + 6);
  if (kind == 0 || kind > kMaxMessageKind) return std::nullopt;
  return static_cast<MessageKind>(kind);
}

ErrorCode ErrorCodeForDecodeFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kFailedPrecondition: return ErrorCode::kVersionMismatch;
    case absl::StatusCode::kResourceExhausted: return ErrorCode::kTooLarge;
    case absl::StatusCode::kUnimplemented: return ErrorCode::kUnknownKind;
    default: return ErrorCode::kMalformed;
  }
}

const char* MessageKindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kHello: return "Hello";
    case MessageKind::kWelcome: return "Welcome";
    case MessageKind::kTask: return "Task";
    case MessageKind::kUpdate: return "Update";
    case MessageKind::kError: return "Error";
    case MessageKind::kHeartbeat: return "Heartbeat";
    case MessageKind::kShutdown: return "Shutdown";
    case MessageKind::kSecAggToServer: return "SecAggToServer";
    case MessageKind::kSecAggToClient: return "SecAggToClient";
    case MessageKind::kLeave: return "Leave";
    case MessageKind::kRetryLater: return "RetryLater";
    case MessageKind::kGlobalModel: return "GlobalModel";
    case MessageKind::kPredictRequest: return "PredictRequest";
    case MessageKind::kPredictReply: return "PredictReply";
  }
  return "Unknown";
}

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformed: return "MALFORMED";
    case ErrorCode::kUnknownKind: return "UNKNOWN_KIND";
    case ErrorCode::kVersionMismatch: return "VERSION_MISMATCH";
    case ErrorCode::kTooLarge: return "TOO_LARGE";
    case ErrorCode::kNotRegistered: return "NOT_REGISTERED";
    case ErrorCode::kWrongRound: return "WRONG_ROUND";
    case ErrorCode::kWrongModelVersion: return "WRONG_MODEL_VERSION";
    case ErrorCode::kWrongLength: return "WRONG_LENGTH";
    case ErrorCode::kNonFinite: return "NON_FINITE";
    case ErrorCode::kNotInCohort: return "NOT_IN_COHORT";
    case ErrorCode::kDuplicate: return "DUPLICATE";
    case ErrorCode::kBadWeight: return "BAD_WEIGHT";
    case ErrorCode::kInternal: return "INTERNAL";
    case ErrorCode::kNotEnrolled: return "NOT_ENROLLED";
    case ErrorCode::kBadSignature: return "BAD_SIGNATURE";
    case ErrorCode::kRollback: return "ROLLBACK";
    case ErrorCode::kRateLimited: return "RATE_LIMITED";
    case ErrorCode::kStale: return "STALE";
    case ErrorCode::kNoModel: return "NO_MODEL";
    case ErrorCode::kBusy: return "BUSY";
  }
  return "UNKNOWN";
}

}  // namespace fedge::protocol
