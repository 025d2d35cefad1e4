#ifndef FEDGE_TESTS_TESTING_STATUS_MATCHERS_H_
#define FEDGE_TESTS_TESTING_STATUS_MATCHERS_H_

// gmock matchers for absl::Status / StatusOr (this Abseil ships none).

#include <string>

#include <gmock/gmock.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedge::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, substring,
           "has code " + absl::StatusCodeToString(code) + " and a message containing '" +
               std::string(substring) + "'") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code && std::string(s.message()).find(substring) != std::string::npos;
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_TESTING_STATUS_MATCHERS_H_
