#ifndef FEDGE_COORDINATOR_PRIVACY_FLAGS_H_
#define FEDGE_COORDINATOR_PRIVACY_FLAGS_H_

// The --dp family of command-line flags, shared by fedge-coordinator (which
// runs the mechanism) and fedge-sim (which checks them at once and passes
// them on), so both spell and document them the same way.

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "coordinator/dp_mechanism.h"

// For fedge-sim's summary.
ABSL_DECLARE_FLAG(std::string, dp);
ABSL_DECLARE_FLAG(double, dp_delta);
ABSL_DECLARE_FLAG(double, dp_target_epsilon);

namespace fedge::coordinator {

// PrivacyOptions from the parsed flags; InvalidArgument naming the flag for
// an unknown --dp mode.
absl::StatusOr<PrivacyOptions> PrivacyOptionsFromFlags();

// The same flags as "--name=value" arguments (doubles exact), to start a
// fedge-coordinator with them.
std::vector<std::string> PrivacyFlagArgs();

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_PRIVACY_FLAGS_H_
