#ifndef FEDGE_CLIENT_SDK_STATUS_MAP_H_
#define FEDGE_CLIENT_SDK_STATUS_MAP_H_

// absl::Status to the SDK's error codes (fedge/fedge_client.h).

#include "absl/status/status.h"
#include "fedge/client.h"

namespace fedge::sdk {

inline fedge_status CodeOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk: return FEDGE_OK;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return FEDGE_ERR_INVALID_ARGUMENT;
    case absl::StatusCode::kNotFound: return FEDGE_ERR_NOT_FOUND;
    case absl::StatusCode::kFailedPrecondition: return FEDGE_ERR_FAILED_PRECONDITION;
    case absl::StatusCode::kDeadlineExceeded: return FEDGE_ERR_TIMEOUT;
    case absl::StatusCode::kCancelled: return FEDGE_ERR_CANCELLED;
    case absl::StatusCode::kUnavailable: return FEDGE_ERR_UNAVAILABLE;
    case absl::StatusCode::kPermissionDenied: return FEDGE_ERR_PERMISSION_DENIED;
    case absl::StatusCode::kUnauthenticated: return FEDGE_ERR_UNAUTHENTICATED;
    case absl::StatusCode::kDataLoss: return FEDGE_ERR_DATA;
    default: return FEDGE_ERR_INTERNAL;
  }
}

// `code` overrides the mapped code when not FEDGE_OK.
inline Error ToError(const absl::Status& s, fedge_status code = FEDGE_OK) {
  if (s.ok()) return Error();
  return Error(code != FEDGE_OK ? code : CodeOf(s), std::string(s.message()));
}

}  // namespace fedge::sdk

#endif  // FEDGE_CLIENT_SDK_STATUS_MAP_H_
